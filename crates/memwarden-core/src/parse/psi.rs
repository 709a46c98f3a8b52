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

    #[test]
    fn a_line_needs_all_four_figures() {
        let e = parse_psi(
            "some avg10=1.00 avg60=0.50 avg300=0.25\n",
            "memory.pressure",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "malformed memory.pressure: PSI line lacks avg10/avg60/avg300/total"
        );
        // Unknown fields and words without '=' are skipped; the four are enough.
        let p = parse_psi(
            "some avg10=1.00 future=7 word avg60=0.50 avg300=0.25 total=9\n\
             full avg10=0.10 avg60=0.20 avg300=0.30 total=4\n",
            "x",
        )
        .unwrap();
        assert_eq!(
            (p.some.avg10, p.some.avg60, p.some.avg300, p.some.total_us),
            (1.0, 0.5, 0.25, 9)
        );
        let full = p.full.unwrap();
        assert_eq!(
            (full.avg10, full.avg60, full.avg300, full.total_us),
            (0.1, 0.2, 0.3, 4)
        );
        // The bounds of a percentage are inclusive; a bad total is named.
        assert!(parse_psi("some avg10=0 avg60=100 avg300=0 total=1\n", "x").is_ok());
        assert!(parse_psi("some avg10=0 avg60=100.01 avg300=0 total=1\n", "x").is_err());
        assert!(parse_psi("some avg10=-0.01 avg60=0 avg300=0 total=1\n", "x").is_err());
        let e = parse_psi("some avg10=0 avg60=0 avg300=0 total=-1\n", "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad value in 'total=-1'"), "{e}");
    }
}
