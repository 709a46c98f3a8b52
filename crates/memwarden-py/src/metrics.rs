//! Prometheus text for Python: `metrics_text(snapshot, activity)` and the content
//! type that goes with it, for the ComfyUI pack's `/memwarden/metrics` route. The
//! encoding is memwarden-metrics', the same as `memwarden serve`'s.

use memwarden_metrics::{Activity, CleanupCount, Format};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::args::{bytes_arg, int_arg, invalid, number_arg, show, str_arg, type_name};
use crate::policy::snapshot_arg;

/// `d[key]` of a dict that may hold only `allowed` keys.
fn dict_of<'py>(
    name: &str,
    v: &Bound<'py, PyAny>,
    allowed: &[&str],
) -> PyResult<Bound<'py, PyDict>> {
    let d = v.cast::<PyDict>().map_err(|_| {
        invalid(format!(
            "{name} must be a dict, not {} (got {})",
            type_name(v),
            show(v)
        ))
    })?;
    for k in d.keys() {
        let k: String = k.extract().unwrap_or_default();
        if !allowed.contains(&k.as_str()) {
            return Err(invalid(format!(
                "{name} has an unknown key '{k}' (known: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(d.clone())
}

fn required<'py>(d: &Bound<'py, PyDict>, name: &str, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| invalid(format!("{name} needs the key '{key}'")))
}

/// One cleanup row: `{"action", "trigger", "count", "reclaimed_bytes"}`.
fn cleanup_of(i: usize, v: &Bound<'_, PyAny>) -> PyResult<CleanupCount> {
    let name = format!("activity['cleanups'][{i}]");
    let d = dict_of(&name, v, &["action", "trigger", "count", "reclaimed_bytes"])?;
    Ok(CleanupCount {
        action: str_arg(
            &format!("{name}['action']"),
            &required(&d, &name, "action")?,
        )?,
        trigger: str_arg(
            &format!("{name}['trigger']"),
            &required(&d, &name, "trigger")?,
        )?,
        count: int_arg(
            &format!("{name}['count']"),
            &required(&d, &name, "count")?,
            0,
            u64::MAX as i128,
            "a count (0 or more)",
        )? as u64,
        reclaimed_bytes: bytes_arg(
            &format!("{name}['reclaimed_bytes']"),
            &required(&d, &name, "reclaimed_bytes")?,
            0,
        )?,
    })
}

/// The activity dict: `{"cleanups": [...], "leak_slope_bytes_per_prompt": float | None}`.
fn activity_of(v: &Bound<'_, PyAny>) -> PyResult<Activity> {
    let d = dict_of("activity", v, &["cleanups", "leak_slope_bytes_per_prompt"])?;
    let mut a = Activity::default();
    if let Some(list) = d.get_item("cleanups")? {
        let list = list.cast::<PyList>().map_err(|_| {
            invalid(format!(
                "activity['cleanups'] must be a list, got {}",
                show(&list)
            ))
        })?;
        for (i, row) in list.iter().enumerate() {
            a.cleanups.push(cleanup_of(i, &row)?);
        }
    }
    if let Some(s) = d.get_item("leak_slope_bytes_per_prompt")? {
        if !s.is_none() {
            let name = "activity['leak_slope_bytes_per_prompt']";
            a.leak_slope_bytes_per_prompt = Some(number_arg(name, &s, f64::MIN, f64::MAX)?);
        }
    }
    Ok(a)
}

/// The snapshot (taken now when None) as Prometheus text: the classic 0.0.4
/// format, or OpenMetrics when `accept` (an HTTP Accept header) asks for it.
///
/// `activity`, when given, adds the cleanup and leak series: a dict
/// `{"cleanups": [{"action": str, "trigger": str, "count": int,
/// "reclaimed_bytes": int}, ...], "leak_slope_bytes_per_prompt": float | None}`
/// with totals since the process started. Raises InvalidInput for anything else.
#[pyfunction]
#[pyo3(signature = (snapshot=None, activity=None, *, accept=None))]
fn metrics_text(
    py: Python<'_>,
    snapshot: Option<Bound<'_, PyAny>>,
    activity: Option<Bound<'_, PyAny>>,
    accept: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let format = format_of(accept.as_ref())?;
    let activity = match activity {
        Some(a) if !a.is_none() => Some(activity_of(&a)?),
        _ => None,
    };
    let snap = snapshot_arg(py, "snapshot", snapshot.as_ref())?;
    Ok(memwarden_metrics::encode(&snap, activity.as_ref(), format))
}

/// The Content-Type of `metrics_text(..., accept=accept)`.
#[pyfunction]
#[pyo3(signature = (accept=None))]
fn metrics_content_type(accept: Option<Bound<'_, PyAny>>) -> PyResult<&'static str> {
    Ok(format_of(accept.as_ref())?.content_type())
}

fn format_of(accept: Option<&Bound<'_, PyAny>>) -> PyResult<Format> {
    match accept {
        Some(a) if !a.is_none() => Ok(Format::from_accept(Some(&str_arg("accept", a)?))),
        _ => Ok(Format::Prometheus),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(metrics_text, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_content_type, m)?)?;
    Ok(())
}
