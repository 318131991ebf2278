//! Alluxio-compatible configuration (DESIGN §6): Alluxio's keys, files and variables, merged
//! with figment, validated against one key table, and able to say where each value came from.
//!
//! ```no_run
//! use lode_core::config::{Config, LoadOptions, Process, name};
//! let loaded = Config::load(&LoadOptions::from_process(Process::Master, vec![])).unwrap();
//! let folder = loaded.config.string(name::MASTER_JOURNAL_FOLDER);
//! ```

pub mod hadoop;
mod keys;
mod sources;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use figment::{Figment, Provider};

/// Key prefixes of Alluxio's templates (`<prefix><anything>`): known, though no table entry
/// names them whole.
const TEMPLATE_PREFIXES: [&str; 1] = [name::MASTER_MOUNT_TABLE_ROOT_OPTION];

pub use keys::{
    find, name, nearest, shown, DefaultValue, Origin, Process, PropertyKey, Scope, KEYS,
};
pub use sources::{parse_java_opts, this_host_name};
pub use value::{parse_duration, parse_size, Value, ValueType};

/// A configuration error: always names the key or file at fault and what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A value does not parse as its key's type.
    #[error("invalid value `{value}` for {key} (from {origin}): {reason}")]
    InvalidValue {
        /// The property.
        key: String,
        /// The offending text.
        value: String,
        /// Where it came from: a file path, a variable, "command line".
        origin: String,
        /// What was expected.
        reason: String,
    },
    /// A configuration file exists but cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: String,
    },
    /// A configuration file or variable is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file (or variable name).
        path: PathBuf,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A `${key}` reference names a key that has no value, or references loop.
    #[error("{key} (from {origin}) refers to ${{{reference}}}, which {problem}")]
    BadReference {
        /// The property holding the reference.
        key: String,
        /// The referenced key.
        reference: String,
        /// Where the referencing value came from.
        origin: String,
        /// "is not set" or "refers back to it".
        problem: String,
    },
    /// A property a component needs has no value.
    #[error("{key} is not set: {why}")]
    Missing {
        /// The property.
        key: String,
        /// Why it is needed.
        why: String,
    },
    /// Figment itself failed (should not happen with Lode's providers).
    #[error("merging configuration failed: {0}")]
    Merge(String),
}

/// What to load: the process kind, its environment and its command-line definitions.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Which `*_JAVA_OPTS` variable applies.
    pub process: Process,
    /// The process environment (a snapshot, so tests can supply their own).
    pub environment: BTreeMap<String, String>,
    /// `-Dkey=value` definitions from the command line, in order.
    pub command_line: Vec<(String, String)>,
}

impl LoadOptions {
    /// Options for this process: its real environment plus the given command-line definitions.
    pub fn from_process(process: Process, command_line: Vec<(String, String)>) -> Self {
        LoadOptions { process, environment: std::env::vars().collect(), command_line }
    }
}

/// One resolved property: its text, its parsed value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The text after `${...}` substitution.
    pub text: String,
    /// The typed value (`None` for keys outside the table, which are kept as text).
    pub value: Option<Value>,
    /// Where the winning value came from ("default", a file path, a variable, "command line").
    pub source: String,
}

/// The effective configuration of one process.
#[derive(Debug, Clone, Default)]
pub struct Config {
    entries: BTreeMap<String, Entry>,
}

/// A loaded configuration plus the warnings worth printing at start-up.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Unknown keys (with the nearest known one), skipped lines, and the like.
    pub warnings: Vec<String>,
    /// The configuration directory that was read.
    pub conf_dir: PathBuf,
}

impl Config {
    /// Loads configuration from every source of DESIGN §6, in precedence order.
    pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigError> {
        let mut warnings = Vec::new();
        let env = &options.environment;
        let conf_dir = conf_dir(options);

        let mut figment = Figment::new().merge(sources::Defaults);
        if let Some(site) =
            sources::read_site_properties(&conf_dir.join("alluxio-site.properties"))?
        {
            figment = figment.merge(site);
        }

        // Variables: alluxio-env.sh first, the process environment over it.
        let env_file =
            sources::read_env_file(&conf_dir.join("alluxio-env.sh"), env, &mut warnings)?;
        let mut variables: BTreeMap<String, (String, String)> = BTreeMap::new();
        if let Some(file) = &env_file {
            figment = figment
                .merge(sources::env_mapped_pairs(file.path.display().to_string(), &file.variables));
            for (name, value) in &file.variables {
                variables.insert(name.clone(), (value.clone(), file.path.display().to_string()));
            }
        }
        figment = figment.merge(sources::env_mapped_pairs("environment".into(), env));
        for (name, value) in env {
            variables.insert(name.clone(), (value.clone(), "environment".into()));
        }

        for var in ["ALLUXIO_JAVA_OPTS", options.process.java_opts_variable()] {
            if let Some((text, origin)) = variables.get(var) {
                let defs = parse_java_opts(text).map_err(|message| ConfigError::Syntax {
                    path: PathBuf::from(format!("{var} (from {origin})")),
                    line: 0,
                    message,
                })?;
                figment = figment.merge(sources::Pairs { name: var.to_string(), pairs: defs });
            }
        }
        figment = figment.merge(sources::Pairs {
            name: "command line".into(),
            pairs: options.command_line.clone(),
        });

        let config = resolve(&figment)?;
        for key in config.entries.keys() {
            let template = TEMPLATE_PREFIXES.iter().any(|prefix| key.starts_with(prefix));
            if key.starts_with("alluxio.") && find(key).is_none() && !template {
                let hint =
                    nearest(key).map(|near| format!("; did you mean {near}?")).unwrap_or_default();
                let source = &config.entries[key].source;
                warnings.push(format!("unknown property {key} (from {source}){hint}"));
            }
        }
        Ok(Loaded { config, warnings, conf_dir })
    }

    /// Builds a configuration from defaults plus the given pairs, as if they came from the
    /// command line (for tests and embedded use).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError> {
        let options = LoadOptions {
            process: Process::Master,
            environment: BTreeMap::from([(
                "ALLUXIO_CONF_DIR".to_string(),
                "/nonexistent/lode-no-conf-dir".to_string(),
            )]),
            command_line: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        };
        Ok(Config::load(&options)?.config)
    }

    /// Every resolved property, by name.
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    /// One property, or `None` when it has no value.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.entries.get(key).and_then(|entry| entry.value.as_ref())
    }

    /// A boolean property; `false` when unset.
    pub fn bool(&self, key: &str) -> bool {
        matches!(self.value(key), Some(Value::Bool(true)))
    }

    /// An integer or port property; `None` when unset.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.value(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A duration property; `None` when unset.
    pub fn duration(&self, key: &str) -> Option<Duration> {
        match self.value(key) {
            Some(Value::Duration(d)) => Some(*d),
            _ => None,
        }
    }

    /// A size property in bytes; `None` when unset.
    pub fn size(&self, key: &str) -> Option<u64> {
        match self.value(key) {
            Some(Value::Size(s)) => Some(*s),
            _ => None,
        }
    }

    /// A property's text; `None` when unset.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|entry| entry.text.as_str())
    }

    /// A property's text, or an error saying it is needed for `why`.
    pub fn require(&self, key: &str, why: &str) -> Result<&str, ConfigError> {
        self.string(key)
            .filter(|text| !text.is_empty())
            .ok_or_else(|| ConfigError::Missing { key: key.into(), why: why.into() })
    }

    /// Where clients and workers look for masters: `alluxio.master.rpc.addresses`, else
    /// `alluxio.master.hostname:alluxio.master.rpc.port` (Alluxio's rule).
    pub fn master_rpc_addresses(&self) -> Vec<String> {
        let addresses = self.list(name::MASTER_RPC_ADDRESSES);
        if !addresses.is_empty() {
            return addresses;
        }
        vec![format!(
            "{}:{}",
            self.string(name::MASTER_HOSTNAME).unwrap_or("localhost"),
            self.int(name::MASTER_RPC_PORT).unwrap_or(19998)
        )]
    }

    /// The properties named `<prefix><key>` (a template such as
    /// `alluxio.master.mount.table.root.option.`), by `<key>`.
    pub fn with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        self.entries
            .range(prefix.to_string()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, entry)| (key[prefix.len()..].to_string(), entry.text.clone()))
            .collect()
    }

    /// A list property; empty when unset.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.value(key) {
            Some(Value::List(items)) => items.clone(),
            _ => Vec::new(),
        }
    }
}

/// The configuration directory: `-Dalluxio.conf.dir`, else `ALLUXIO_CONF_DIR`, else
/// `$ALLUXIO_HOME/conf`, else `/opt/alluxio/conf`.
fn conf_dir(options: &LoadOptions) -> PathBuf {
    let from_command_line = options
        .command_line
        .iter()
        .rev()
        .find(|(key, _)| key == name::CONF_DIR)
        .map(|(_, value)| value.clone());
    let env = &options.environment;
    from_command_line
        .or_else(|| env.get("ALLUXIO_CONF_DIR").cloned())
        .map(PathBuf::from)
        .or_else(|| env.get("ALLUXIO_HOME").map(|home| PathBuf::from(home).join("conf")))
        .unwrap_or_else(|| PathBuf::from("/opt/alluxio/conf"))
}

/// Parses one command-line definition, `key=value` (the text after `-D`), for clap.
pub fn parse_define(text: &str) -> Result<(String, String), String> {
    let text = text.strip_prefix("-D").unwrap_or(text);
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected key=value, got `{text}`")),
    }
}

/// Turns the merged figment into typed entries: `${key}` substitution, then parsing.
fn resolve(figment: &Figment) -> Result<Config, ConfigError> {
    let data = figment.data().map_err(|e| ConfigError::Merge(e.to_string()))?;
    let mut raw: BTreeMap<String, (String, String)> = BTreeMap::new();
    for dict in data.values() {
        for (key, value) in dict {
            let text = match value.as_str() {
                Some(text) => text.to_string(),
                None => format!("{value:?}"),
            };
            let source = figment
                .get_metadata(value.tag())
                .map(|meta| meta.name.to_string())
                .unwrap_or_else(|| "unknown".into());
            raw.insert(key.clone(), (text, source));
        }
    }

    let mut entries = BTreeMap::new();
    for (key, (_, source)) in &raw {
        let text = substitute(key, &raw, &mut BTreeSet::new())?;
        let value = match find(key) {
            Some(property) => Some(property.value_type.parse(&text).map_err(|reason| {
                ConfigError::InvalidValue {
                    key: key.clone(),
                    value: text.clone(),
                    origin: source.clone(),
                    reason,
                }
            })?),
            None => None,
        };
        entries.insert(key.clone(), Entry { text, value, source: source.clone() });
    }
    Ok(Config { entries })
}

/// Expands `${other.key}` references in `key`'s text, recursively; `visiting` catches loops.
fn substitute(
    key: &str,
    raw: &BTreeMap<String, (String, String)>,
    visiting: &mut BTreeSet<String>,
) -> Result<String, ConfigError> {
    let (text, source) = &raw[key];
    if !text.contains("${") {
        return Ok(text.clone());
    }
    visiting.insert(key.to_string());
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let reference = &rest[start + 2..start + 2 + len];
        let problem = if visiting.contains(reference) {
            Some("refers back to it")
        } else if !raw.contains_key(reference) {
            Some("is not set")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ConfigError::BadReference {
                key: key.into(),
                reference: reference.into(),
                origin: source.clone(),
                problem: problem.into(),
            });
        }
        out.push_str(&substitute(reference, raw, visiting)?);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    visiting.remove(key);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_are_not_nested_by_figment() {
        let config = Config::from_pairs([("alluxio.master.hostname", "m1")]).unwrap();
        assert_eq!(config.string(name::MASTER_HOSTNAME), Some("m1"));
        assert_eq!(config.get(name::MASTER_HOSTNAME).unwrap().source, "command line");
        assert_eq!(config.get(name::MASTER_RPC_PORT).unwrap().source, "default");
    }

    #[test]
    fn references_resolve_through_other_keys() {
        let config = Config::from_pairs([("alluxio.home", "/srv/alluxio")]).unwrap();
        assert_eq!(config.string(name::MASTER_JOURNAL_FOLDER), Some("/srv/alluxio/journal"));
    }

    #[test]
    fn reference_loops_and_dangling_references_are_errors() {
        let err = Config::from_pairs([("alluxio.home", "${alluxio.work.dir}")]).unwrap_err();
        assert!(err.to_string().contains("refers back"), "{err}");
        let err = Config::from_pairs([("alluxio.home", "${no.such.key}")]).unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }

    /// A template's keys (the root mount's options) are collected by prefix and draw no
    /// "unknown property" warning; a misspelt key still does.
    #[test]
    fn template_keys_are_known_by_their_prefix() {
        let options = LoadOptions {
            process: Process::Master,
            environment: BTreeMap::from([(
                "ALLUXIO_CONF_DIR".to_string(),
                "/nonexistent/lode-no-conf-dir".to_string(),
            )]),
            command_line: vec![
                ("alluxio.master.mount.table.root.option.s3a.accessKeyId".into(), "id".into()),
                (
                    "alluxio.master.mount.table.root.option.alluxio.underfs.s3.endpoint".into(),
                    "e".into(),
                ),
                ("alluxio.master.mount.tabel.root.ufs".into(), "/x".into()),
            ],
        };
        let loaded = Config::load(&options).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("mount.tabel"), "{:?}", loaded.warnings);
        let root_options = loaded.config.with_prefix(name::MASTER_MOUNT_TABLE_ROOT_OPTION);
        assert_eq!(
            root_options.into_iter().collect::<Vec<_>>(),
            [
                ("alluxio.underfs.s3.endpoint".to_string(), "e".to_string()),
                ("s3a.accessKeyId".to_string(), "id".to_string())
            ]
        );
    }

    #[test]
    fn every_named_key_is_in_the_table() {
        let config = Config::from_pairs(Vec::<(String, String)>::new()).unwrap();
        for key in KEYS {
            if !matches!(key.default, DefaultValue::None) {
                assert!(config.get(key.name).is_some(), "{} has no value", key.name);
            }
        }
    }
}
