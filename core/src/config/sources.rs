//! The configuration sources of DESIGN §6 as figment providers, one per layer:
//! defaults < `alluxio-site.properties` < `alluxio-env.sh` < process environment <
//! `*_JAVA_OPTS` `-D` < command-line `-D`.
//!
//! Every provider yields one flat dictionary keyed by the full property name (dots are part of
//! the name, never a nesting), and names itself in its metadata so that `lode conf get --source`
//! and error messages can say where a value came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value as FigmentValue};
use figment::{Metadata, Profile, Provider};

use super::keys::{self, DefaultValue as KeyDefault};
use super::ConfigError;

/// Builds the figment dictionary of a provider from string pairs.
fn dict(pairs: impl IntoIterator<Item = (String, String)>) -> Map<Profile, Dict> {
    let dict: Dict =
        pairs.into_iter().map(|(key, value)| (key, FigmentValue::from(value))).collect();
    Map::from([(Profile::Default, dict)])
}

/// The built-in defaults of the key table.
pub struct Defaults;

impl Provider for Defaults {
    fn metadata(&self) -> Metadata {
        Metadata::named("default")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(dict(keys::KEYS.iter().filter_map(|key| {
            let value = match key.default {
                KeyDefault::None => return None,
                KeyDefault::Literal(text) => text.to_string(),
                KeyDefault::ThisHostName => this_host_name(),
            };
            Some((key.name.to_string(), value))
        })))
    }
}

/// This host's name as the OS reports it (`uname -n`).
pub fn this_host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// Key/value pairs already read from one named source.
pub struct Pairs {
    /// How the source is named in `--source` output and errors.
    pub name: String,
    /// The pairs, in the order they were read (later ones win).
    pub pairs: Vec<(String, String)>,
}

impl Provider for Pairs {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(dict(self.pairs.iter().cloned()))
    }
}

/// Reads an `alluxio-site.properties` file (Java properties syntax). A missing file is no
/// error — Alluxio runs without one — and yields `None`.
pub fn read_site_properties(path: &Path) -> Result<Option<Pairs>, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::Unreadable { path: path.into(), error: e.to_string() }),
    };
    let mut pairs = Vec::new();
    java_properties::PropertiesIter::new(bytes.as_slice())
        .read_into(|key, value| pairs.push((key, value)))
        .map_err(|e| ConfigError::Syntax {
            path: path.into(),
            line: e.line_number().unwrap_or(0),
            message: e.to_string(),
        })?;
    Ok(Some(Pairs { name: path.display().to_string(), pairs }))
}

/// The shell variables an `alluxio-env.sh` assigns, parsed and never executed.
pub struct EnvFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Variable name -> value, after `$VAR` expansion.
    pub variables: BTreeMap<String, String>,
}

/// Parses `alluxio-env.sh`: `export NAME=value` or `NAME=value` lines, with shell quoting and
/// `$NAME` / `${NAME}` expansion of variables set earlier in the file or in `environment`.
/// Command substitution is refused (the file is data here, not a script); other shell lines
/// are skipped with a warning. A missing file yields `None`.
pub fn read_env_file(
    path: &Path,
    environment: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Option<EnvFile>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::Unreadable { path: path.into(), error: e.to_string() }),
    };
    let mut variables = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let syntax =
            |message: String| ConfigError::Syntax { path: path.into(), line: line_number, message };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let assignment = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((name, raw_value)) = assignment.split_once('=') else {
            warnings.push(format!(
                "{}:{line_number}: skipped `{line}`: Lode reads only NAME=value lines from this file",
                path.display()
            ));
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            warnings.push(format!(
                "{}:{line_number}: skipped `{line}`: `{name}` is not a variable name",
                path.display()
            ));
            continue;
        }
        if raw_value.contains("$(") || raw_value.contains('`') {
            return Err(syntax(format!(
                "{name} uses command substitution; Lode parses this file and never runs it, so \
                 write the value out"
            )));
        }
        let expanded = if raw_value.starts_with('\'') {
            raw_value.to_string()
        } else {
            expand_variables(raw_value, |var| {
                variables.get(var).or_else(|| environment.get(var)).cloned()
            })
        };
        let words = shlex::split(&expanded)
            .ok_or_else(|| syntax(format!("{name} has an unterminated quote")))?;
        variables.insert(name.to_string(), words.join(" "));
    }
    Ok(Some(EnvFile { path: path.into(), variables }))
}

/// Replaces `$NAME` and `${NAME}` with `lookup(NAME)`, or nothing when unset (as a shell does).
fn expand_variables(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&lookup(name).unwrap_or_default());
            rest = &after[consumed..];
        }
    }
    out.push_str(rest);
    out
}

/// The properties that environment variables set (`ALLUXIO_MASTER_HOSTNAME` ->
/// `alluxio.master.hostname`, ...), as one named source.
pub fn env_mapped_pairs(name: String, variables: &BTreeMap<String, String>) -> Pairs {
    let pairs = keys::KEYS
        .iter()
        .filter_map(|key| {
            let value = variables.get(key.env?)?;
            Some((key.name.to_string(), value.clone()))
        })
        .collect();
    Pairs { name, pairs }
}

/// Extracts `-Dkey=value` definitions from Java options text (shell-quoted); other options
/// (`-Xmx4g`, ...) are ignored. `-Dkey` alone sets the empty string, as Java does.
pub fn parse_java_opts(text: &str) -> Result<Vec<(String, String)>, String> {
    let words = shlex::split(text).ok_or("unterminated quote")?;
    Ok(words
        .iter()
        .filter_map(|word| word.strip_prefix("-D"))
        .filter(|def| !def.is_empty())
        .map(|def| match def.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (def.to_string(), String::new()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_opts_yield_only_definitions() {
        let defs = parse_java_opts(
            "-Xmx4g -Dalluxio.zookeeper.enabled=true '-Dalluxio.master.hostname=a b' -Dflag",
        )
        .unwrap();
        assert_eq!(
            defs,
            vec![
                ("alluxio.zookeeper.enabled".into(), "true".into()),
                ("alluxio.master.hostname".into(), "a b".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert!(parse_java_opts("-Dx='unterminated").is_err());
    }

    #[test]
    fn variables_expand_like_a_shell() {
        let lookup = |name: &str| (name == "A").then(|| "1".to_string());
        assert_eq!(expand_variables("$A-${A}-$B-${B}-$", lookup), "1-1---$");
        assert_eq!(expand_variables("${A", lookup), "${A");
    }
}
