//! Typed property values and Alluxio's textual forms for them (`60s`, `10min`, `64MB`, ...).

use std::fmt;
use std::time::Duration;

/// The type of a property, which decides how its text is parsed and validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `true` or `false` (case-insensitive, as Java's `Boolean.parseBoolean` with validation).
    Bool,
    /// A signed 64-bit integer.
    Int,
    /// A TCP port, 0 to 65535.
    Port,
    /// Alluxio's time form: a whole number and an optional unit (`ms` when absent).
    Duration,
    /// Alluxio's size form: a decimal number and an optional unit (`B` when absent), base 1024.
    Size,
    /// Free text.
    String,
    /// One of a fixed set of words, compared case-insensitively.
    Enum(&'static [&'static str]),
    /// A comma-separated list of `host:port`.
    HostPorts,
    /// A ZooKeeper connect string: `host:port[,host:port...][/chroot]`.
    ZkConnect,
    /// Free text that is a credential: `lode conf` and messages show it as `******`.
    Secret,
}

impl ValueType {
    /// A short name for docs and messages.
    pub fn name(&self) -> String {
        match self {
            ValueType::Bool => "boolean".into(),
            ValueType::Int => "integer".into(),
            ValueType::Port => "port".into(),
            ValueType::Duration => "duration".into(),
            ValueType::Size => "size".into(),
            ValueType::String => "string".into(),
            ValueType::Enum(words) => format!("one of {}", words.join(", ")),
            ValueType::HostPorts => "list of host:port".into(),
            ValueType::ZkConnect => "host:port[,host:port...][/chroot]".into(),
            ValueType::Secret => "secret".into(),
        }
    }

    /// Parses `text` as this type; the error says what was expected.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let text = text.trim();
        match self {
            ValueType::Bool => match text.to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err("expected true or false".into()),
            },
            ValueType::Int => {
                text.parse::<i64>().map(Value::Int).map_err(|_| "expected a whole number".into())
            }
            ValueType::Port => text
                .parse::<u16>()
                .map(|port| Value::Int(port.into()))
                .map_err(|_| "expected a port number from 0 to 65535".into()),
            ValueType::Duration => parse_duration(text).map(Value::Duration),
            ValueType::Size => parse_size(text).map(Value::Size),
            ValueType::String | ValueType::Secret => Ok(Value::String(text.to_string())),
            ValueType::Enum(words) => words
                .iter()
                .find(|word| word.eq_ignore_ascii_case(text))
                .map(|word| Value::String(word.to_string()))
                .ok_or_else(|| format!("expected one of {}", words.join(", "))),
            ValueType::HostPorts => parse_host_ports(text).map(Value::List),
            ValueType::ZkConnect => {
                let (hosts, chroot) = match text.find('/') {
                    Some(at) => (&text[..at], Some(&text[at..])),
                    None => (text, None),
                };
                if let Some(chroot) = chroot {
                    validate_chroot(chroot)?;
                }
                parse_host_ports(hosts)?;
                Ok(Value::String(text.to_string()))
            }
        }
    }
}

/// A parsed property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer (also ports).
    Int(i64),
    /// A duration.
    Duration(Duration),
    /// A size in bytes.
    Size(u64),
    /// Text, including enum words in their canonical spelling.
    String(String),
    /// A list of items.
    List(Vec<String>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Duration(d) => write!(f, "{}ms", d.as_millis()),
            Value::Size(s) => write!(f, "{s}B"),
            Value::String(s) => f.write_str(s),
            Value::List(items) => f.write_str(&items.join(",")),
        }
    }
}

/// Parses Alluxio's time form: `500`, `500ms`, `60s`, `10sec`, `5m`, `10min`, `1h`, `2hr`, `1d`,
/// `1day` (plural unit words are accepted too). A bare number is milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const HINT: &str = "expected a duration such as 500ms, 60s, 10min, 1h or 1day";
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| HINT.to_string())?;
    let unit = unit.trim().to_ascii_lowercase();
    let millis_per_unit: u64 = match unit.as_str() {
        "" | "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return Err(HINT.into()),
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| "duration is too large".into())
}

/// Parses Alluxio's size form: `1024`, `64MB`, `1.5GB`, `10k`, `2TB` (units B, KB/K, MB/M,
/// GB/G, TB/T, PB/P, case-insensitive, powers of 1024). A bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const HINT: &str = "expected a size such as 4096, 64MB, 1.5GB or 2TB";
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| HINT.to_string())?;
    let exponent = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" => 1,
        "m" | "mb" => 2,
        "g" | "gb" => 3,
        "t" | "tb" => 4,
        "p" | "pb" => 5,
        _ => return Err(HINT.into()),
    };
    let bytes = number * 1024f64.powi(exponent);
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err("size is too large".into());
    }
    Ok(bytes.round() as u64)
}

fn parse_host_ports(text: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect();
    if items.is_empty() {
        return Err("expected at least one host:port".into());
    }
    for item in &items {
        let Some((host, port)) = item.rsplit_once(':') else {
            return Err(format!("`{item}` is not host:port"));
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("`{item}` has no valid host"));
        }
        if port.parse::<u16>().is_err() {
            return Err(format!("`{item}` has no valid port"));
        }
    }
    Ok(items)
}

fn validate_chroot(chroot: &str) -> Result<(), String> {
    if chroot.len() > 1 && chroot.ends_with('/') {
        return Err(format!("chroot `{chroot}` must not end with /"));
    }
    if chroot.split('/').skip(1).any(|part| part.is_empty()) && chroot != "/" {
        return Err(format!("chroot `{chroot}` has an empty path component"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_alluxio_forms() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(ms("500"), Ok(500));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("60s"), Ok(60_000));
        assert_eq!(ms("1sec"), Ok(1_000));
        assert_eq!(ms("2 seconds"), Ok(2_000));
        assert_eq!(ms("5m"), Ok(300_000));
        assert_eq!(ms("10min"), Ok(600_000));
        assert_eq!(ms("10MIN"), Ok(600_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("2hr"), Ok(7_200_000));
        assert_eq!(ms("1d"), Ok(86_400_000));
        assert_eq!(ms("1day"), Ok(86_400_000));
        for bad in ["abc", "", "s", "1.5s", "-1s", "10 parsecs", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn sizes_parse_in_alluxio_forms() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        for bad in ["", "MB", "1.2.3MB", "12XB", "-5MB", "1e30PB"] {
            assert!(parse_size(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn zookeeper_connect_strings_validate() {
        let zk = ValueType::ZkConnect;
        assert!(zk.parse("h1:2181,h2:2181,h3:2181").is_ok());
        assert!(zk.parse("h1:2181,h2:2181/alluxio/ha").is_ok());
        assert!(zk.parse("h1").is_err());
        assert!(zk.parse("h1:notaport").is_err());
        assert!(zk.parse("h1:2181/chroot/").is_err());
        assert!(zk.parse("h1:2181//x").is_err());
    }

    #[test]
    fn enums_are_case_insensitive_and_canonical() {
        let t = ValueType::Enum(&["UFS", "NOOP"]);
        assert_eq!(t.parse("ufs"), Ok(Value::String("UFS".into())));
        assert!(t.parse("EMBEDDED").unwrap_err().contains("UFS, NOOP"));
    }
}
