//! Pressure stall information: /proc/pressure/memory and cgroup memory.pressure.

use crate::error::{Error, Result};
use crate::model::{Psi, PsiLine};

fn parse_line(rest: &str, file: &str) -> Result<PsiLine> {
    let mut line = PsiLine::default();
    let mut seen = 0;
    for field in rest.split_ascii_whitespace() {
        let Some((k, v)) = field.split_once('=') else {
            continue;
        };
        let bad = || Error::malformed(file, format!("bad value in '{field}'"));
        match k {
            "avg10" => line.avg10 = parse_pct(v).ok_or_else(bad)?,
            "avg60" => line.avg60 = parse_pct(v).ok_or_else(bad)?,
            "avg300" => line.avg300 = parse_pct(v).ok_or_else(bad)?,
            "total" => line.total_us = v.parse().map_err(|_| bad())?,
            _ => continue,
        }
        seen += 1;
    }
    if seen < 4 {
        return Err(Error::malformed(
            file,
            "PSI line lacks avg10/avg60/avg300/total",
        ));
    }
    Ok(line)
}

fn parse_pct(v: &str) -> Option<f64> {
    let x: f64 = v.parse().ok()?;
    (x.is_finite() && (0.0..=100.0).contains(&x)).then_some(x)
}

/// Parse a PSI file. `file` names it in error messages.
pub fn parse_psi(text: &str, file: &str) -> Result<Psi> {
    let mut some = None;
    let mut full = None;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("some ") {
            some = Some(parse_line(rest, file)?);
        } else if let Some(rest) = l.strip_prefix("full ") {
            full = Some(parse_line(rest, file)?);
        }
    }
    let some = some.ok_or_else(|| Error::malformed(file, "no 'some' line"))?;
    Ok(Psi { some, full })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_only_is_accepted() {
        let p = parse_psi("some avg10=1.50 avg60=0.20 avg300=0.00 total=123\n", "x").unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total_us, 123);
        assert!(p.full.is_none());
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(parse_psi("some avg10=101 avg60=0 avg300=0 total=1\n", "x").is_err());
        assert!(parse_psi("some avg10=NaN avg60=0 avg300=0 total=1\n", "x").is_err());
        assert!(parse_psi("full avg10=1 avg60=0 avg300=0 total=1\n", "x").is_err());
    }
}
