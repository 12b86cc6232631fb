//! Reading configuration text: TOML (flat quoted keys or nested tables, both meaning the same dotted
//! key) and Java `.properties`, each into `key -> text` entries.

use std::collections::BTreeMap;

use super::ConfigError;

/// Flattens a TOML document into dotted keys with text values.
pub fn parse_toml(text: &str, origin: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(format!("{origin} is not valid TOML: {e}")))?;
    let mut out = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut out, origin)?;
    Ok(out)
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut BTreeMap<String, String>,
    origin: &str,
) -> Result<(), ConfigError> {
    let text = match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, out, origin)?;
            }
            return Ok(());
        }
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::String(s) => parts.push(s.clone()),
                    toml::Value::Integer(i) => parts.push(i.to_string()),
                    other => {
                        return Err(ConfigError(format!(
                            "{origin}: {prefix} holds an array of {}, expected strings",
                            other.type_str()
                        )));
                    }
                }
            }
            parts.join(",")
        }
    };
    out.insert(prefix.to_string(), text);
    Ok(())
}

/// Parses Java `.properties` text (`key=value` or `key: value` lines, `#`/`!` comments).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).unwrap_or(line.len());
        let (key, value) = line.split_at(split);
        let value = value.get(1..).unwrap_or("");
        out.insert(key.trim().to_string(), value.trim().to_string());
    }
    out
}
