//! Finding the mount that holds a path, from `/proc/self/mountinfo`.

use std::path::{Component, Path, PathBuf};

/// The mount point of the GlusterFS (`fuse.glusterfs`) mount that holds `path`, if the
/// deepest mount holding it is one. `mountinfo` is the text of `/proc/self/mountinfo`; `path`
/// is absolute and need not exist yet.
pub fn glusterfs_mount_of(mountinfo: &str, path: &str) -> Option<PathBuf> {
    let path = normalise(Path::new(path));
    mountinfo
        .lines()
        .filter_map(|line| {
            // `id parent major:minor root mount-point options [optional...] - type source ...`
            let (before, after) = line.split_once(" - ")?;
            let mount_point = unescape(before.split(' ').nth(4)?);
            let fs_type = after.split(' ').next()?;
            Some((normalise(Path::new(&mount_point)), fs_type.to_string()))
        })
        .filter(|(mount_point, _)| path.starts_with(mount_point))
        // The deepest mount holding the path wins; later lines shadow earlier ones.
        .fold(None::<(PathBuf, String)>, |deepest, (mount_point, fs_type)| match deepest {
            Some((ref best, _)) if best.components().count() > mount_point.components().count() => {
                deepest
            }
            _ => Some((mount_point, fs_type)),
        })
        .filter(|(_, fs_type)| fs_type == "fuse.glusterfs")
        .map(|(mount_point, _)| mount_point)
}

/// Drops `.` components and resolves `..` lexically.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            std::str::from_utf8(digits).ok().and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:25 / /mnt/gluster rw,relatime shared:9 - fuse.glusterfs vm:/lodevol rw,user_id=0
31 30 0:26 / /mnt/gluster/local rw,relatime shared:10 - tmpfs tmpfs rw
32 22 0:27 / /mnt/with\\040space rw,relatime - fuse.glusterfs vm:/other rw
";

    #[test]
    fn a_folder_under_a_glusterfs_mount_is_found() {
        assert_eq!(
            glusterfs_mount_of(MOUNTS, "/mnt/gluster/alluxio/journal"),
            Some(PathBuf::from("/mnt/gluster"))
        );
        assert_eq!(glusterfs_mount_of(MOUNTS, "/mnt/gluster"), Some(PathBuf::from("/mnt/gluster")));
        assert_eq!(
            glusterfs_mount_of(MOUNTS, "/mnt/with space/j"),
            Some(PathBuf::from("/mnt/with space"))
        );
    }

    #[test]
    fn folders_elsewhere_or_under_a_deeper_mount_are_not() {
        assert_eq!(glusterfs_mount_of(MOUNTS, "/var/journal"), None);
        assert_eq!(glusterfs_mount_of(MOUNTS, "/mnt/glusterfs-lookalike/j"), None);
        assert_eq!(glusterfs_mount_of(MOUNTS, "/mnt/gluster/local/j"), None);
        assert_eq!(
            glusterfs_mount_of(MOUNTS, "/mnt/gluster/local/../j"),
            Some("/mnt/gluster".into())
        );
    }
}
