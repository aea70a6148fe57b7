//! Reading `[decky.<service>]` keys: shared value parsers and the typed
//! error a service's `validate` returns.

/// Parses an INI boolean.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}
