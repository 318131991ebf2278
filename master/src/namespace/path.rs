//! File system paths as the namespace accepts them: absolute, `/`-separated, with no empty,
//! `.` or `..` components, no NUL, components of at most 255 bytes and at most 4,096 bytes in all.
//! A single trailing `/` is allowed and ignored (`/a/b/` is `/a/b`).

use std::fmt;

/// The longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest path component (file or directory name) accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// A validated absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FsPath {
    text: String,
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path `{path}`: {reason}")]
pub struct PathError {
    /// The path as given (control characters escaped).
    pub path: String,
    /// The rule it breaks.
    pub reason: String,
}

/// The most of a refused path an error shows: errors travel in a gRPC header, which a 100 KB
/// path would overflow (the client saw an HTTP/2 protocol error instead of the reason).
const SHOWN_PATH_CHARS: usize = 200;

/// `text` as errors show it: control characters escaped, and cut to its start and its length
/// when it is long.
fn shown(text: &str) -> String {
    let escaped = text.escape_debug().to_string();
    match escaped.char_indices().nth(SHOWN_PATH_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &escaped[..cut], text.len()),
        None => escaped,
    }
}

/// Why `name` cannot be a path component, if it cannot.
pub fn name_problem(name: &str) -> Option<String> {
    match name {
        "" => Some("a path must not have empty components (//)".into()),
        "." | ".." => Some(format!("a path must not have `{name}` components")),
        _ if name.len() > MAX_NAME_BYTES => {
            Some(format!("component of {} bytes is longer than {MAX_NAME_BYTES}", name.len()))
        }
        _ if name.contains(['/', '\0']) => Some("a component must not contain / or NUL".into()),
        _ => None,
    }
}

impl FsPath {
    /// The root, `/`.
    pub fn root() -> FsPath {
        FsPath { text: "/".into() }
    }

    /// Validates `text` as a path.
    pub fn parse(text: &str) -> Result<FsPath, PathError> {
        let fail = |reason: String| PathError { path: shown(text), reason };
        if text.is_empty() {
            return Err(fail("a path must not be empty".into()));
        }
        if !text.starts_with('/') {
            return Err(fail("a path must be absolute (start with /)".into()));
        }
        if text.len() > MAX_PATH_BYTES {
            return Err(fail(format!("{} bytes is longer than {MAX_PATH_BYTES}", text.len())));
        }
        if text.contains('\0') {
            return Err(fail("a path must not contain NUL".into()));
        }
        let trimmed = if text.len() > 1 { text.strip_suffix('/').unwrap_or(text) } else { text };
        if trimmed == "/" {
            return if text == "/" {
                Ok(FsPath::root())
            } else {
                Err(fail("a path must not have empty components (//)".into()))
            };
        }
        for name in trimmed[1..].split('/') {
            match name {
                "" => return Err(fail("a path must not have empty components (//)".into())),
                "." | ".." => {
                    return Err(fail(format!("a path must not have `{name}` components")))
                }
                _ if name.len() > MAX_NAME_BYTES => {
                    return Err(fail(format!(
                        "component of {} bytes is longer than {MAX_NAME_BYTES}",
                        name.len()
                    )))
                }
                _ => {}
            }
        }
        Ok(FsPath { text: trimmed.to_string() })
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.text == "/"
    }

    /// The components, root first (none for `/`).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.text.split('/').filter(|name| !name.is_empty())
    }

    /// The last component; `None` for `/`.
    pub fn name(&self) -> Option<&str> {
        self.components().last()
    }

    /// The parent path; `None` for `/`.
    pub fn parent(&self) -> Option<FsPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.text.rfind('/').unwrap_or(0);
        Some(if cut == 0 { FsPath::root() } else { FsPath { text: self.text[..cut].into() } })
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &FsPath) -> bool {
        other.is_root()
            || self.text == other.text
            || (self.text.starts_with(&other.text)
                && self.text.as_bytes()[other.text.len()] == b'/')
    }

    /// The path of the first `depth` components (`/` for 0): for messages about a prefix.
    pub fn prefix(&self, depth: usize) -> FsPath {
        self.components().take(depth).fold(FsPath::root(), |path, name| path.join(name))
    }

    /// `self` joined with a child `name` (which must be a valid component).
    pub fn join(&self, name: &str) -> FsPath {
        if self.is_root() {
            FsPath { text: format!("/{name}") }
        } else {
            FsPath { text: format!("{}/{name}", self.text) }
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for FsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_long_path_is_shown_cut_with_its_length() {
        let long = format!("/{}", "a".repeat(100_000));
        let error = FsPath::parse(&long).unwrap_err().to_string();
        assert!(error.len() < 400, "{} bytes of error", error.len());
        assert!(error.contains("(100001 bytes)") && error.contains("longer than 4096"), "{error}");
        let short = FsPath::parse("a/b").unwrap_err().to_string();
        assert!(short.contains("`a/b`"), "{short}");
    }

    #[test]
    fn valid_paths_normalise_a_trailing_slash() {
        assert_eq!(FsPath::parse("/").unwrap(), FsPath::root());
        assert_eq!(FsPath::parse("/a/b/").unwrap().as_str(), "/a/b");
        assert_eq!(FsPath::parse("/a b/ü.txt").unwrap().name(), Some("ü.txt"));
        let path = FsPath::parse("/a/b/c").unwrap();
        assert_eq!(path.components().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(path.parent().unwrap().as_str(), "/a/b");
        assert_eq!(FsPath::parse("/a").unwrap().parent(), Some(FsPath::root()));
    }

    #[test]
    fn every_path_rule_is_enforced_with_its_reason() {
        let long_name = format!("/{}", "x".repeat(256));
        let long_path = "/abcdefgh".repeat(500);
        for (bad, reason) in [
            ("", "must not be empty"),
            ("a/b", "must be absolute"),
            ("/a//b", "empty components"),
            ("//", "empty components"),
            ("/a/./b", "`.` components"),
            ("/a/../b", "`..` components"),
            ("/a\0b", "NUL"),
            (long_name.as_str(), "longer than 255"),
            (long_path.as_str(), "longer than 4096"),
        ] {
            let err = FsPath::parse(bad).unwrap_err();
            assert!(err.reason.contains(reason), "{bad:?}: {err}");
        }
        assert!(FsPath::parse("/a\0b").unwrap_err().to_string().contains("/a\\0b"));
    }

    #[test]
    fn prefixes_take_leading_components() {
        let path = FsPath::parse("/a/b/c").unwrap();
        assert_eq!(path.prefix(0), FsPath::root());
        assert_eq!(path.prefix(2).as_str(), "/a/b");
        assert_eq!(path.prefix(9), path);
    }

    #[test]
    fn within_means_same_or_below() {
        let a = FsPath::parse("/a").unwrap();
        assert!(FsPath::parse("/a/b").unwrap().is_within(&a));
        assert!(a.is_within(&a));
        assert!(!FsPath::parse("/ab").unwrap().is_within(&a));
        assert!(a.is_within(&FsPath::root()));
    }
}
