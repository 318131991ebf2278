//! `lode conf`: the effective configuration, where each value came from, and the property
//! reference generated from the key table.

use std::fmt::Write as _;
use std::time::Duration;

use lode_core::config::{find, nearest, shown, Config, DefaultValue, Origin, Value, KEYS};

/// A unit to print a duration or size in, as `lode conf get --unit` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
    /// Minutes.
    Min,
    /// Hours.
    H,
    /// Days.
    D,
    /// Bytes.
    B,
    /// Kibibytes.
    Kb,
    /// Mebibytes.
    Mb,
    /// Gibibytes.
    Gb,
    /// Tebibytes.
    Tb,
}

impl std::str::FromStr for Unit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "ms" => Unit::Ms,
            "s" | "sec" => Unit::S,
            "min" | "m" => Unit::Min,
            "h" | "hr" => Unit::H,
            "d" | "day" => Unit::D,
            "b" => Unit::B,
            "kb" => Unit::Kb,
            "mb" => Unit::Mb,
            "gb" => Unit::Gb,
            "tb" => Unit::Tb,
            _ => {
                return Err(format!(
                    "unknown unit `{text}`: use MS, S, MIN, H, D, B, KB, MB, GB or TB"
                ))
            }
        })
    }
}

fn in_unit(value: &Value, unit: Unit) -> Result<String, String> {
    let ratio = |number: f64, per: f64| {
        let converted = number / per;
        if converted.fract() == 0.0 {
            format!("{converted}")
        } else {
            format!("{converted:.3}")
        }
    };
    let time = |d: &Duration, per_ms: f64| Ok(ratio(d.as_millis() as f64, per_ms));
    let size = |bytes: u64, power: i32| Ok(ratio(bytes as f64, 1024f64.powi(power)));
    match (value, unit) {
        (Value::Duration(d), Unit::Ms) => time(d, 1.0),
        (Value::Duration(d), Unit::S) => time(d, 1e3),
        (Value::Duration(d), Unit::Min) => time(d, 6e4),
        (Value::Duration(d), Unit::H) => time(d, 3.6e6),
        (Value::Duration(d), Unit::D) => time(d, 8.64e7),
        (Value::Size(s), Unit::B) => size(*s, 0),
        (Value::Size(s), Unit::Kb) => size(*s, 1),
        (Value::Size(s), Unit::Mb) => size(*s, 2),
        (Value::Size(s), Unit::Gb) => size(*s, 3),
        (Value::Size(s), Unit::Tb) => size(*s, 4),
        _ => {
            Err("--unit applies to durations (MS, S, MIN, H, D) and sizes (B, KB, MB, GB, TB) only"
                .into())
        }
    }
}

/// What `lode conf get KEY` prints: the value (in `unit` if given), and with `source`, where it
/// came from. An unknown `alluxio.*` key is an error suggesting the nearest known one.
pub fn get(config: &Config, key: &str, source: bool, unit: Option<Unit>) -> Result<String, String> {
    let entry = config.get(key);
    if entry.is_none() && find(key).is_none() {
        let hint = nearest(key).map(|name| format!("; did you mean {name}?")).unwrap_or_default();
        return Err(format!("unknown property {key}{hint}"));
    }
    let Some(entry) = entry else {
        return Ok(if source { "(unset) (no default)".into() } else { String::new() });
    };
    let text = match (unit, &entry.value) {
        (Some(unit), Some(value)) => in_unit(value, unit).map_err(|e| format!("{key}: {e}"))?,
        (Some(_), None) => return Err(format!("{key}: --unit needs a known duration or size key")),
        (None, _) => shown(key, &entry.text).to_string(),
    };
    Ok(if source { format!("{text} ({})", entry.source) } else { text })
}

/// What `lode conf list` prints: every property with a value, `key=value`, sorted, and with
/// `source`, where each came from.
pub fn list(config: &Config, source: bool) -> String {
    let mut out = String::new();
    for (key, entry) in config.entries() {
        if source {
            let _ = writeln!(out, "{key}={}  # {}", shown(key, &entry.text), entry.source);
        } else {
            let _ = writeln!(out, "{key}={}", shown(key, &entry.text));
        }
    }
    out
}

/// The property reference (`docs/properties.md`), generated from the key table.
pub fn reference() -> String {
    let mut out = String::from(
        "# Property reference\n\n\
         Generated from Lode's key table by `lode conf docs`; do not edit by hand.\n\n\
         Lode reads Alluxio's configuration: `alluxio-site.properties` and `alluxio-env.sh` in \
         `$ALLUXIO_CONF_DIR` (default `$ALLUXIO_HOME/conf`, else `/opt/alluxio/conf`), the \
         environment, `ALLUXIO_JAVA_OPTS` plus `ALLUXIO_MASTER_JAVA_OPTS` / \
         `ALLUXIO_WORKER_JAVA_OPTS` / `ALLUXIO_USER_JAVA_OPTS`, and `-Dkey=value` on the \
         command line, later sources winning in that order. Durations take Alluxio's forms \
         (`500ms`, `60s`, `10min`, `1h`, `1day`; a bare number is milliseconds); sizes too \
         (`4096`, `64MB`, `1.5GB`; powers of 1024). A value may refer to another key as \
         `${alluxio.other.key}`.\n\n\
         | Property | Type | Default | Used by | Environment | Description |\n\
         |---|---|---|---|---|---|\n",
    );
    for key in KEYS {
        let default = match key.default {
            DefaultValue::None => "(none)".to_string(),
            DefaultValue::Literal(text) => format!("`{text}`"),
            DefaultValue::ThisHostName => "this host's name".to_string(),
        };
        let origin = match key.origin {
            Origin::Alluxio => "",
            Origin::Lode => " *(Lode)*",
        };
        let _ = writeln!(
            out,
            "| `{}`{origin} | {} | {default} | {} | {} | {} |",
            key.name,
            key.value_type.name().replace('|', "\\|"),
            key.scope.name(),
            key.env.map(|e| format!("`{e}`")).unwrap_or_default(),
            key.description.replace('|', "\\|"),
        );
    }
    out.push_str(
        "\n*(Lode)* marks Lode's own keys; every other key is Alluxio 2.9's, with Alluxio's \
         default unless its description says otherwise.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_durations_and_sizes() {
        let config = Config::from_pairs([("alluxio.zookeeper.session.timeout", "90s")]).unwrap();
        assert_eq!(
            get(&config, "alluxio.zookeeper.session.timeout", false, Some(Unit::S)).unwrap(),
            "90"
        );
        assert_eq!(
            get(&config, "alluxio.zookeeper.session.timeout", false, Some(Unit::Min)).unwrap(),
            "1.500"
        );
        assert_eq!(
            get(&config, "alluxio.user.block.size.bytes.default", false, Some(Unit::Mb)).unwrap(),
            "64"
        );
        assert!(get(&config, "alluxio.zookeeper.enabled", false, Some(Unit::S)).is_err());
    }

    #[test]
    fn credentials_never_show_in_get_or_list() {
        let config =
            Config::from_pairs([("alluxio.zookeeper.auth.digest", "lode:hunter2")]).unwrap();
        let shown = get(&config, "alluxio.zookeeper.auth.digest", true, None).unwrap();
        assert!(shown.starts_with("****** ("), "{shown}");
        let listing = list(&config, true);
        assert!(listing.contains("alluxio.zookeeper.auth.digest=******"), "{listing}");
        assert!(!listing.contains("hunter2") && !shown.contains("hunter2"));
    }

    #[test]
    fn unknown_keys_suggest_the_nearest() {
        let config = Config::from_pairs(Vec::<(String, String)>::new()).unwrap();
        let err = get(&config, "alluxio.zookeeper.enabeld", false, None).unwrap_err();
        assert_eq!(
            err,
            "unknown property alluxio.zookeeper.enabeld; did you mean alluxio.zookeeper.enabled?"
        );
    }

    #[test]
    fn the_checked_in_reference_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/properties.md");
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == reference(),
            "docs/properties.md is stale: run `cargo run --bin lode -- conf docs > docs/properties.md`"
        );
    }
}
