//! The external helper's answer: what `<helper> trim --pid P --json` printed (a
//! `PageoutReport`, or the `--json` error object), judged without trusting it: any
//! output gives a report or a [`HelperError`] saying what was wrong, never a panic.

use serde_json::Value;

use crate::model::{HelperError, PageoutReport, SwapVerdict, SCHEMA_VERSION};

/// At most this much of a helper's text is quoted back.
const QUOTED: usize = 500;

fn helper_error(error: String) -> Box<HelperError> {
    Box::new(HelperError {
        error,
        kind: String::new(),
        exit_code: None,
        swap_check: None,
    })
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> &str {
    let skip = s.chars().count().saturating_sub(n);
    s.char_indices().nth(skip).map_or("", |(i, _)| &s[i..])
}

/// The first `n` characters of `s`.
fn head(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// Judge what the helper named `name` printed on `stdout` and `stderr` and the
/// status it exited with (the error boxed: a verdict is large beside a report).
pub fn helper_answer(
    name: &str,
    stdout: &str,
    stderr: &str,
    status: i32,
) -> Result<PageoutReport, Box<HelperError>> {
    let data: Value = match serde_json::from_str(stdout) {
        Ok(v) => v,
        Err(_) => {
            let said = if stderr.trim().is_empty() {
                stdout.trim()
            } else {
                stderr.trim()
            };
            let said = if said.is_empty() {
                "no output"
            } else {
                tail(said, QUOTED)
            };
            return Err(helper_error(format!(
                "{name} exited with status {status}: {said}"
            )));
        }
    };
    if let Some(error) = data.get("error") {
        let error = match error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let kind = match data.get("kind") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let exit_code = data
            .get("exit_code")
            .and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok());
        // A verdict that does not read as one is left out (the message still says it).
        let swap_check = data
            .get("swap_check")
            .filter(|v| !v.is_null())
            .and_then(|v| serde_json::from_value::<SwapVerdict>(v.clone()).ok());
        return Err(Box::new(HelperError {
            error,
            kind,
            exit_code,
            swap_check,
        }));
    }
    if let Some(version) = data.get("schema_version").and_then(Value::as_i64) {
        if version != i64::from(SCHEMA_VERSION) {
            return Err(helper_error(format!(
                "{name} writes JSON schema {version} and this memwarden reads {SCHEMA_VERSION}: \
                 install the same memwarden version for both ({name} --version, memwarden.__version__)"
            )));
        }
    }
    serde_json::from_value(data).map_err(|_| {
        helper_error(format!(
            "{name} answered `{}`, not a memwarden report",
            head(stdout.trim(), 200)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = include_str!("../../tests/data/helper_pageout_report.json");
    const REFUSAL: &str = include_str!("../../tests/data/helper_swap_refused.json");

    #[test]
    fn a_report_from_the_memwarden_command() {
        let r = helper_answer("memwarden", REPORT, "", 0).unwrap();
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        assert!(r.swap_check.allowed);
    }

    #[test]
    fn a_refusal_keeps_its_kind_code_and_verdict() {
        let e = helper_answer("memwarden", REFUSAL, "", 6).unwrap_err();
        assert_eq!((e.kind.as_str(), e.exit_code), ("swap_refused", Some(6)));
        assert!(e.error.contains("--force"), "{}", e.error);
        let v = e.swap_check.expect("the verdict");
        assert!(!v.allowed);
        // A verdict that does not read as one is left out, the rest kept.
        let odd =
            r#"{"error": "no", "kind": "swap_refused", "exit_code": 6, "swap_check": {"x": 1}}"#;
        let e = helper_answer("h", odd, "", 6).unwrap_err();
        assert_eq!((e.error.as_str(), e.swap_check), ("no", None));
    }

    #[test]
    fn anything_else_says_what_was_wrong() {
        let e = helper_answer("/bin/false", "", "", 1).unwrap_err();
        assert_eq!(e.error, "/bin/false exited with status 1: no output");
        assert_eq!((e.kind.as_str(), e.exit_code), ("", None));
        let e = helper_answer("/bin/echo", "trim --pid 4\n", "", 0).unwrap_err();
        assert_eq!(e.error, "/bin/echo exited with status 0: trim --pid 4");
        let e = helper_answer("h", "out", " it broke \n", -9).unwrap_err();
        assert_eq!(e.error, "h exited with status -9: it broke");
        let long = "x".repeat(600);
        let e = helper_answer("h", "", &long, 2).unwrap_err();
        assert_eq!(
            e.error,
            format!("h exited with status 2: {}", "x".repeat(500))
        );
        let e = helper_answer("a script", r#"{"pid": 1}"#, "", 0).unwrap_err();
        assert_eq!(
            e.error,
            "a script answered `{\"pid\": 1}`, not a memwarden report"
        );
        let e =
            helper_answer("an old one", r#"{"schema_version": 1, "pid": 1}"#, "", 0).unwrap_err();
        assert!(
            e.error.starts_with(&format!(
                "an old one writes JSON schema 1 and this memwarden reads {SCHEMA_VERSION}: install the same"
            )),
            "{}",
            e.error
        );
        for junk in [
            "[]",
            "null",
            "3",
            "\"x\"",
            "{\"error\": null}",
            "{\"error\": 5, \"kind\": 7}",
        ] {
            assert!(helper_answer("h", junk, "", 0).is_err(), "{junk}");
        }
        // Multi-byte text is cut on character boundaries.
        let e = helper_answer("h", "", &"é".repeat(501), 1).unwrap_err();
        assert!(e.error.ends_with(&"é".repeat(500)));
    }
}
