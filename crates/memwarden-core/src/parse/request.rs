//! The ComfyUI panel's request bodies (`POST /memwarden/cleanup`,
//! `/memwarden/feed`, `/memwarden/guard`): a JSON object with known fields, each
//! value checked, the field named in what was wrong. Pure: the body's text in, the
//! values or the message out; nothing is changed by a bad request.

use serde_json::{Map, Value};

use crate::model::{SETTING_GUARD, SETTING_RAM_FIGURES, SETTING_RESERVE};

/// The panel's refresh interval: what a page may ask for, and the default.
pub const FEED_MIN_INTERVAL_S: f64 = 0.25;
pub const FEED_MAX_INTERVAL_S: f64 = 60.0;
pub const FEED_DEFAULT_INTERVAL_S: f64 = 1.0;
/// The largest reserve the panel may set, MiB (1 TiB).
pub const MAX_RESERVE_MB: u64 = 1 << 20;

/// `POST /memwarden/feed`: which page asks, how often, on or off.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRequest {
    pub client_id: String,
    /// Clamped to [`FEED_MIN_INTERVAL_S`]..[`FEED_MAX_INTERVAL_S`].
    pub interval_s: f64,
    pub enabled: bool,
}

/// `POST /memwarden/guard`: turn the guard on or off, set its reserve (each
/// optional; a reserve of 0 MiB is the default for the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardRequest {
    pub enabled: Option<bool>,
    pub reserve_mb: Option<u64>,
}

/// The body as a JSON object with no field outside `allowed`.
fn object(text: &str, allowed: &[&str]) -> Result<Map<String, Value>, String> {
    let body: Value =
        serde_json::from_str(text).map_err(|e| format!("the body is not valid JSON ({e})"))?;
    let Value::Object(map) = body else {
        return Err(format!(
            "the body must be a JSON object, got {}",
            kind(&body)
        ));
    };
    let mut unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        let quoted: Vec<String> = unknown.iter().map(|k| format!("'{k}'")).collect();
        return Err(format!(
            "unknown field(s) {}; known: {}",
            quoted.join(", "),
            allowed.join(", ")
        ));
    }
    Ok(map)
}

/// What a JSON value is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as the message quotes it (at most 80 characters).
fn shown(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

fn flag(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(format!("\"{key}\" must be true or false, got {}", shown(v))),
    }
}

/// `POST /memwarden/cleanup`: the mode's name as given (`{"mode": "balanced"}`);
/// `modes` lists the names for the message.
pub fn cleanup_request(text: &str, modes: &str) -> Result<String, String> {
    let map = object(text, &["mode"])?;
    match map.get("mode") {
        Some(Value::String(m)) => Ok(m.clone()),
        other => Err(format!(
            "\"mode\" must be a string, one of {modes}; got {}",
            other.map_or("nothing".into(), shown)
        )),
    }
}

/// `POST /memwarden/feed`.
pub fn feed_request(text: &str) -> Result<FeedRequest, String> {
    let map = object(text, &["client_id", "interval_s", "enabled"])?;
    let client_id = match map.get("client_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(format!(
                "\"client_id\" must be the page's websocket client id (a string), got {}",
                other.map_or("nothing".into(), shown)
            ))
        }
    };
    let interval = match map.get("interval_s") {
        None => FEED_DEFAULT_INTERVAL_S,
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("\"interval_s\" must be a number of seconds, got {n}"))?,
        Some(v) => {
            return Err(format!(
                "\"interval_s\" must be a number of seconds, got {}",
                shown(v)
            ))
        }
    };
    Ok(FeedRequest {
        client_id,
        interval_s: interval.clamp(FEED_MIN_INTERVAL_S, FEED_MAX_INTERVAL_S),
        enabled: flag(&map, "enabled")?.unwrap_or(true),
    })
}

/// `POST /memwarden/guard`.
pub fn guard_request(text: &str) -> Result<GuardRequest, String> {
    let map = object(text, &["enabled", "reserve_mb"])?;
    let reserve_mb = match map.get("reserve_mb") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(mb) if (0.0..=MAX_RESERVE_MB as f64).contains(&mb) => Some(mb as u64),
            _ => return Err(reserve_error(&n.to_string())),
        },
        Some(v) => return Err(reserve_error(&shown(v))),
    };
    Ok(GuardRequest {
        enabled: match map.get("enabled") {
            Some(Value::Null) => None,
            _ => flag(&map, "enabled")?,
        },
        reserve_mb,
    })
}

/// memwarden's settings as ComfyUI stored them (the default user's
/// `comfy.settings.json`); a setting the user never changed is not in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComfySettings {
    /// `Some(false)` only when switched off; any other value leaves the default (on).
    pub guard_enabled: Option<bool>,
    /// The reserve in bytes; none (the default for the limit) when absent, empty,
    /// zero or not a number; at most [`MAX_RESERVE_MB`] MiB.
    pub reserve_bytes: Option<u64>,
    pub ram_figures: Option<bool>,
}

/// ComfyUI's settings file: memwarden's settings, or why the file could not be read
/// as settings (not JSON, not an object). Other keys are ComfyUI's and ignored.
pub fn comfy_settings(text: &str) -> Result<ComfySettings, String> {
    let body: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(map) = body else {
        return Err(format!("a JSON object was expected, got {}", kind(&body)));
    };
    let switch = |key: &str| map.get(key).and_then(Value::as_bool);
    let reserve_bytes = map
        .get(SETTING_RESERVE)
        .and_then(Value::as_f64)
        // a float cast to u64 saturates: 0 for a negative reserve, then filtered
        .map(|mb| (mb.min(MAX_RESERVE_MB as f64) * (1u64 << 20) as f64) as u64)
        .filter(|b| *b > 0);
    Ok(ComfySettings {
        guard_enabled: switch(SETTING_GUARD),
        reserve_bytes,
        ram_figures: switch(SETTING_RAM_FIGURES),
    })
}

fn reserve_error(got: &str) -> String {
    format!(
        "\"reserve_mb\" must be a number of MiB from 0 (the default) to {MAX_RESERVE_MB}, got {got}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: &str = "monitor, balanced";

    #[test]
    fn a_cleanup_names_its_mode() {
        assert_eq!(
            cleanup_request(r#"{"mode": "Standard"}"#, MODES),
            Ok("Standard".into())
        );
        for (body, error) in [
            (
                "{not json",
                "the body is not valid JSON (key must be a string at line 1 column 2)",
            ),
            (
                r#"["balanced"]"#,
                "the body must be a JSON object, got an array",
            ),
            ("3", "the body must be a JSON object, got a number"),
            ("null", "the body must be a JSON object, got null"),
            (r#""x""#, "the body must be a JSON object, got a string"),
            ("true", "the body must be a JSON object, got a boolean"),
            (
                r#"{"mode": 3}"#,
                "\"mode\" must be a string, one of monitor, balanced; got 3",
            ),
            (
                "{}",
                "\"mode\" must be a string, one of monitor, balanced; got nothing",
            ),
            (
                r#"{"mode": "balanced", "force": true, "all": 1}"#,
                "unknown field(s) 'all', 'force'; known: mode",
            ),
        ] {
            assert_eq!(
                cleanup_request(body, MODES),
                Err(error.to_string()),
                "{body}"
            );
        }
        let long = format!(r#"{{"mode": [{}]}}"#, "1,".repeat(100) + "1");
        let e = cleanup_request(&long, MODES).unwrap_err();
        assert!(e.ends_with("...") && e.len() < 160, "{e}");
    }

    #[test]
    fn the_feed_asks_for_an_interval_within_bounds() {
        let feed = |t: &str| feed_request(t);
        assert_eq!(
            feed(r#"{"client_id": "abc"}"#),
            Ok(FeedRequest {
                client_id: "abc".into(),
                interval_s: FEED_DEFAULT_INTERVAL_S,
                enabled: true
            })
        );
        let r = feed(r#"{"client_id": "a", "interval_s": 0.01, "enabled": false}"#).unwrap();
        assert_eq!((r.interval_s, r.enabled), (FEED_MIN_INTERVAL_S, false));
        assert_eq!(
            feed(r#"{"client_id": "a", "interval_s": 1e6}"#)
                .unwrap()
                .interval_s,
            FEED_MAX_INTERVAL_S
        );
        assert_eq!(
            feed(r#"{"client_id": "a", "interval_s": 2}"#)
                .unwrap()
                .interval_s,
            2.0
        );
        for (body, error) in [
            (
                r#"{"interval_s": 1}"#,
                "\"client_id\" must be the page's websocket client id (a string), got nothing",
            ),
            (
                r#"{"client_id": ""}"#,
                "\"client_id\" must be the page's websocket client id (a string), got \"\"",
            ),
            (
                r#"{"client_id": "a", "interval_s": "fast"}"#,
                "\"interval_s\" must be a number of seconds, got \"fast\"",
            ),
            (
                r#"{"client_id": "a", "interval_s": true}"#,
                "\"interval_s\" must be a number of seconds, got true",
            ),
            (
                r#"{"client_id": "a", "enabled": "yes"}"#,
                "\"enabled\" must be true or false, got \"yes\"",
            ),
            (
                r#"{"client_id": "a", "rate": 2}"#,
                "unknown field(s) 'rate'; known: client_id, interval_s, enabled",
            ),
        ] {
            assert_eq!(feed(body), Err(error.to_string()), "{body}");
        }
    }

    #[test]
    fn the_guard_is_turned_on_or_off_and_its_reserve_set() {
        let g = |enabled, reserve_mb| {
            Ok(GuardRequest {
                enabled,
                reserve_mb,
            })
        };
        assert_eq!(guard_request("{}"), g(None, None));
        assert_eq!(
            guard_request(r#"{"enabled": null, "reserve_mb": null}"#),
            g(None, None)
        );
        assert_eq!(
            guard_request(r#"{"enabled": false, "reserve_mb": 0}"#),
            g(Some(false), Some(0))
        );
        assert_eq!(
            guard_request(r#"{"enabled": true, "reserve_mb": 1024.7}"#),
            g(Some(true), Some(1024))
        );
        assert_eq!(
            guard_request(r#"{"reserve_mb": 1048576}"#),
            g(None, Some(MAX_RESERVE_MB))
        );
        let reserve = "\"reserve_mb\" must be a number of MiB from 0 (the default) to 1048576, got";
        for (body, error) in [
            (
                r#"{"enabled": "yes"}"#,
                "\"enabled\" must be true or false, got \"yes\"".to_string(),
            ),
            (r#"{"reserve_mb": -5}"#, format!("{reserve} -5")),
            (r#"{"reserve_mb": 1048577}"#, format!("{reserve} 1048577")),
            (r#"{"reserve_mb": true}"#, format!("{reserve} true")),
            (
                r#"{"reserve": 5}"#,
                "unknown field(s) 'reserve'; known: enabled, reserve_mb".to_string(),
            ),
        ] {
            assert_eq!(guard_request(body), Err(error), "{body}");
        }
    }

    #[test]
    fn comfyuis_settings_file_gives_memwardens_settings() {
        let text = r#"{"Comfy.Locale": "en", "memwarden.Guard.Enabled": false,
            "memwarden.Guard.ReserveMB": 1536.5, "memwarden.Guard.ContainerRamFigures": true}"#;
        assert_eq!(
            comfy_settings(text),
            Ok(ComfySettings {
                guard_enabled: Some(false),
                reserve_bytes: Some(1536 * (1 << 20) + (1 << 19)),
                ram_figures: Some(true),
            })
        );
        assert_eq!(comfy_settings("{}"), Ok(ComfySettings::default()));
        // what the dialog leaves when a field is emptied, and values of another type
        for reserve in ["\"\"", "null", "0", "-5", "true", "0.0000001"] {
            let text = format!(
                r#"{{"memwarden.Guard.ReserveMB": {reserve}, "memwarden.Guard.Enabled": "no"}}"#
            );
            assert_eq!(
                comfy_settings(&text),
                Ok(ComfySettings::default()),
                "{text}"
            );
        }
        assert_eq!(
            comfy_settings(r#"{"memwarden.Guard.ReserveMB": 1e12}"#)
                .unwrap()
                .reserve_bytes,
            Some(MAX_RESERVE_MB << 20)
        );
        assert_eq!(
            comfy_settings("[1]"),
            Err("a JSON object was expected, got an array".into())
        );
        assert!(comfy_settings("{oops")
            .unwrap_err()
            .starts_with("not valid JSON ("));
    }
}
