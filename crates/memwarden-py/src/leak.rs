//! The leak verdict for Python: `assess_leak` (is a per-prompt series growing) and
//! `attribute_nodes` (which node type's executions leave memory behind). The
//! Memory Leak Detector only collects the figures; the core decides.

use memwarden_core::policy::leak::{self, LeakConfig, SiteGrowth};
use memwarden_core::render;
use memwarden_core::{LeakSummary, LeakVerdict, NodeRecord, NodeSuspect, TrendTest};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use pyo3::IntoPyObjectExt;

use crate::args::{int_arg, invalid, number_arg, show, type_name};
use crate::models::{from_dict, from_json, model, repr_of, to_dict, ToPy};

impl ToPy for usize {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        (*self).into_py_any(py)
    }
}

model! {
    /// The Mann–Kendall statistics of one series (S, its variance with ties, Z, p).
    PyTrendTest = "TrendTest" (TrendTest) { n, s, var_s, z, p }
    repr(n, s, z, p)
}

model! {
    /// Is the series leaking: verdict, Theil–Sen slope (bytes per prompt), the trend
    /// test, points used after warm-up, and why.
    PyLeakVerdict = "LeakVerdict" (LeakVerdict) {
        leak, slope_bytes_per_prompt, trend, points, reason,
    }
    repr(leak, slope_bytes_per_prompt, points, reason)
}

model! {
    /// What one node type's executions left behind, with its own verdict (slope in
    /// bytes per execution).
    PyNodeSuspect = "NodeSuspect" (NodeSuspect) {
        node_type, executions, median_rss_bytes, total_rss_bytes,
        median_vram_bytes, total_vram_bytes, median_traced_bytes, total_traced_bytes, verdict,
    }
    repr(node_type, executions, median_rss_bytes, total_rss_bytes)
}

const MB: f64 = 1024.0 * 1024.0;

/// The core's default leak settings (`LeakConfig::default()`), the slope in MB per
/// prompt, as the dict the Python detector and these functions take them from.
fn default_config(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let c = LeakConfig::default();
    let d = PyDict::new(py);
    d.set_item("warmup", c.warmup)?;
    d.set_item("min_points", c.min_points)?;
    d.set_item("alpha", c.alpha)?;
    d.set_item("min_slope_mb", c.min_slope_bytes / MB)?;
    Ok(d)
}

/// One default leak setting, as the Python value an argument left out takes.
fn leak_default(name: &str) -> Py<PyAny> {
    Python::attach(|py| {
        let d = default_config(py).expect("the default converts");
        let v = d
            .get_item(name)
            .expect("a dict lookup")
            .expect("a LeakConfig field");
        v.unbind()
    })
}

/// The core's default leak settings, as a dict (warmup, min_points, alpha,
/// min_slope_mb).
#[pyfunction]
fn default_leak_config(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    default_config(py)
}

fn config_arg(
    warmup: &Bound<'_, PyAny>,
    min_points: &Bound<'_, PyAny>,
    alpha: &Bound<'_, PyAny>,
    min_slope_mb: &Bound<'_, PyAny>,
) -> PyResult<LeakConfig> {
    let count = "an integer from 0 to 1000000";
    Ok(LeakConfig {
        warmup: int_arg("warmup", warmup, 0, 1_000_000, count)? as usize,
        min_points: int_arg(
            "min_points",
            min_points,
            3,
            1_000_000,
            "an integer from 3 to 1000000",
        )? as usize,
        alpha: number_arg("alpha", alpha, 1e-12, 0.5)?,
        min_slope_bytes: number_arg("min_slope_mb", min_slope_mb, 0.0, 1e9)? * MB,
    })
}

fn floats_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    let items = v.try_iter().map_err(|_| {
        invalid(format!(
            "{name} must be a sequence of numbers, not {}",
            type_name(v)
        ))
    })?;
    items
        .enumerate()
        .map(|(i, x)| number_arg(&format!("{name}[{i}]"), &x?, f64::MIN, f64::MAX))
        .collect()
}

/// The leak verdict on a per-prompt series of bytes (oldest first, warm-up prompts
/// included): a leak when the Mann–Kendall trend is significant at `alpha` and the
/// Theil–Sen slope is at least `min_slope_mb` MB per prompt.
#[pyfunction]
#[pyo3(
    signature = (series, warmup=leak_default("warmup"), min_points=leak_default("min_points"), alpha=leak_default("alpha"), min_slope_mb=leak_default("min_slope_mb"))
)]
fn assess_leak(
    py: Python<'_>,
    series: Bound<'_, PyAny>,
    warmup: Py<PyAny>,
    min_points: Py<PyAny>,
    alpha: Py<PyAny>,
    min_slope_mb: Py<PyAny>,
) -> PyResult<PyLeakVerdict> {
    let config = config_arg(
        warmup.bind(py),
        min_points.bind(py),
        alpha.bind(py),
        min_slope_mb.bind(py),
    )?;
    let xs = floats_arg("series", &series)?;
    Ok(PyLeakVerdict(py.detach(|| leak::assess(&xs, &config))))
}

fn record_arg(i: usize, v: &Bound<'_, PyAny>) -> PyResult<NodeRecord> {
    let bad = || {
        invalid(format!(
            "records[{i}] must be a tuple (node_type: str, prompt_index: int, delta_rss: int, \
             delta_vram: int, delta_traced: int | None), got {}",
            show(v)
        ))
    };
    let t = v.cast::<PyTuple>().map_err(|_| bad())?;
    if t.len() != 5 {
        return Err(bad());
    }
    let node_type: String = t.get_item(0)?.extract().map_err(|_| bad())?;
    let big = i128::from(i64::MAX);
    Ok(NodeRecord {
        node_type,
        prompt_index: int_arg("prompt_index", &t.get_item(1)?, 0, big, "an int >= 0")? as usize,
        delta_rss: int_arg("delta_rss", &t.get_item(2)?, -big, big, "an int")? as i64,
        delta_vram: int_arg("delta_vram", &t.get_item(3)?, -big, big, "an int")? as i64,
        delta_traced: match t.get_item(4)? {
            x if x.is_none() => None,
            x => Some(int_arg("delta_traced", &x, -big, big, "an int or None")? as i64),
        },
    })
}

/// Per node type, what its executions left behind, suspects first. `records` are
/// tuples (node_type, prompt_index, delta_rss, delta_vram, delta_traced or None),
/// one per execution; records of warm-up prompts are ignored. Host memory retained
/// is the traced delta when a type's every execution was traced, else RSS.
#[pyfunction]
#[pyo3(
    signature = (records, warmup=leak_default("warmup"), min_points=leak_default("min_points"), alpha=leak_default("alpha"), min_slope_mb=leak_default("min_slope_mb"))
)]
fn attribute_nodes(
    py: Python<'_>,
    records: Bound<'_, PyAny>,
    warmup: Py<PyAny>,
    min_points: Py<PyAny>,
    alpha: Py<PyAny>,
    min_slope_mb: Py<PyAny>,
) -> PyResult<Py<PyList>> {
    let config = config_arg(
        warmup.bind(py),
        min_points.bind(py),
        alpha.bind(py),
        min_slope_mb.bind(py),
    )?;
    let items = records.try_iter().map_err(|_| {
        invalid(format!(
            "records must be a sequence of tuples, not {}",
            type_name(&records)
        ))
    })?;
    let recs = items
        .enumerate()
        .map(|(i, r)| record_arg(i, &r?))
        .collect::<PyResult<Vec<_>>>()?;
    let suspects = py.detach(|| leak::attribute_nodes(&recs, &config));
    let objs = suspects
        .into_iter()
        .map(|s| PyNodeSuspect(s).into_py_any(py))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, objs)?.unbind())
}

/// This process's resident set size in bytes, read the cheapest way the OS offers
/// (/proc/self/statm on Linux, the working set on Windows): the per-node reading.
#[pyfunction]
fn self_rss_bytes() -> PyResult<u64> {
    memwarden_core::probe::process::self_rss_bytes().map_err(crate::args::py_err)
}

/// The Memory Leak Detector's report in words (`report`: the dict
/// `LeakReport.text()` builds, verdicts and suspects as their `to_dict()`).
#[pyfunction]
fn leak_report_text(report: Bound<'_, PyAny>) -> PyResult<String> {
    let r: LeakSummary = from_dict(&report, "LeakReport")?;
    Ok(memwarden_core::render::leak_report_text(&r))
}

/// The Memory Leak Detector's status line.
#[pyfunction]
fn leak_status_line(leak: bool, slope_bytes_per_prompt: f64, prompts: usize) -> String {
    render::leak_status_line(leak, slope_bytes_per_prompt, prompts)
}

/// The panel's leak section in words (`verdict`: None before the first prompt).
#[pyfunction]
#[pyo3(signature = (prompts, verdict=None))]
fn leak_feed_text(prompts: usize, verdict: Option<PyRef<'_, PyLeakVerdict>>) -> String {
    render::leak_feed_text(prompts, verdict.as_ref().map(|v| &v.0))
}

/// The verdict on each per-prompt series (`series`: name -> bytes per prompt, in
/// order), whether any leaks, and the steepest slope (bytes per prompt). `knobs`:
/// the detector's warmup, min_points, alpha and min_slope_mb (the core's default for
/// any left out).
#[pyfunction]
fn assess_series<'py>(
    py: Python<'py>,
    series: Bound<'py, PyDict>,
    knobs: Bound<'py, PyDict>,
) -> PyResult<(Bound<'py, PyDict>, bool, f64)> {
    let known = ["warmup", "min_points", "alpha", "min_slope_mb"];
    if let Some(k) = knobs
        .keys()
        .iter()
        .find(|k| !known.iter().any(|n| k.eq(*n).unwrap_or(false)))
    {
        return Err(invalid(format!(
            "unknown leak setting {}; known: {}",
            show(&k),
            known.join(", ")
        )));
    }
    let knob = |name: &str| -> PyResult<Bound<'py, PyAny>> {
        Ok(match knobs.get_item(name)? {
            Some(v) => v,
            None => leak_default(name).into_bound(py),
        })
    };
    let config = config_arg(
        &knob("warmup")?,
        &knob("min_points")?,
        &knob("alpha")?,
        &knob("min_slope_mb")?,
    )?;
    let named = series
        .iter()
        .map(|(k, v)| {
            let name: String = k.extract()?;
            let xs = floats_arg(&format!("series[{name:?}]"), &v)?;
            Ok((name, xs))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let (verdicts, leak, slope) = py.detach(|| leak::assess_all(&named, &config));
    let out = PyDict::new(py);
    for (name, v) in verdicts {
        out.set_item(name, PyLeakVerdict(v))?;
    }
    Ok((out, leak, slope))
}

/// Object types whose live count keeps growing over the sampled prompts (`samples`:
/// each a dict of type name -> live objects), as `name +growth`, most first.
#[pyfunction]
#[pyo3(signature = (samples, alpha=leak_default("alpha"), limit=5))]
fn growing_types(
    py: Python<'_>,
    samples: Vec<std::collections::BTreeMap<String, u64>>,
    alpha: Py<PyAny>,
    limit: usize,
) -> PyResult<Vec<String>> {
    let alpha = number_arg("alpha", alpha.bind(py), 1e-12, 0.5)?;
    Ok(py
        .detach(|| leak::growing_types(&samples, alpha, limit))
        .iter()
        .map(|(name, growth)| render::growing_type_line(name, *growth))
        .collect())
}

/// The allocation sites that grew by at least `threshold_mb` MB (`sites`: tuples
/// (file, line, size_diff, count_diff, size) from tracemalloc's comparison),
/// largest first, at most `limit`, in words.
#[pyfunction]
#[pyo3(signature = (sites, threshold_mb, limit=10))]
fn grown_sites(
    sites: Vec<(String, u32, i64, i64, u64)>,
    threshold_mb: f64,
    limit: usize,
) -> Vec<String> {
    let sites: Vec<SiteGrowth> = sites
        .into_iter()
        .map(|(file, line, size_diff, count_diff, size)| SiteGrowth {
            file,
            line,
            size_diff,
            size,
            count_diff,
        })
        .collect();
    leak::grown_sites(&sites, threshold_mb * MB, limit)
        .iter()
        .map(render::site_line)
        .collect()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(self_rss_bytes, m)?)?;
    m.add_class::<PyTrendTest>()?;
    m.add_class::<PyLeakVerdict>()?;
    m.add_class::<PyNodeSuspect>()?;
    m.add_function(wrap_pyfunction!(assess_leak, m)?)?;
    m.add_function(wrap_pyfunction!(attribute_nodes, m)?)?;
    m.add_function(wrap_pyfunction!(assess_series, m)?)?;
    m.add_function(wrap_pyfunction!(leak_status_line, m)?)?;
    m.add_function(wrap_pyfunction!(leak_feed_text, m)?)?;
    m.add_function(wrap_pyfunction!(growing_types, m)?)?;
    m.add_function(wrap_pyfunction!(grown_sites, m)?)?;
    m.add_function(wrap_pyfunction!(leak_report_text, m)?)?;
    m.add_function(wrap_pyfunction!(default_leak_config, m)?)?;
    Ok(())
}
