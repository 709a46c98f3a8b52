//! The ComfyUI panel's request bodies for `memwarden.comfy.routes`, parsed and
//! checked by the core (`parse::request`): the values, or ValueError saying that
//! nothing was done, naming the field and what was wrong (the route answers 400
//! with it).

use memwarden_core::parse::request::{self, FeedRequest, GuardRequest};
use memwarden_core::policy::modes::{self, CleanupMode};
use memwarden_core::render as words;
use pyo3::prelude::*;

use memwarden_core::Error;
use pyo3::exceptions::PyValueError;

fn bad(message: String) -> PyErr {
    PyValueError::new_err(message)
}

/// What a bad body of each request is answered with: that nothing was done, then why.
const CLEANUP_REFUSED: &str = "cleanup refused, nothing done";
const FEED_REFUSED: &str = "feed settings refused";
const GUARD_REFUSED: &str = "guard settings refused, nothing changed";

fn refused(what: &str) -> impl Fn(String) -> PyErr + '_ {
    move |why| bad(format!("{what}: {why}"))
}

/// `POST /memwarden/cleanup`'s body: the canonical name of the mode it asks for.
#[pyfunction]
fn cleanup_request(text: &str) -> PyResult<&'static str> {
    let names = "monitor, conservative, balanced, aggressive";
    let mode = request::cleanup_request(text, names).map_err(refused(CLEANUP_REFUSED))?;
    CleanupMode::parse(&mode)
        .map(CleanupMode::name)
        .map_err(|e| match e {
            Error::InvalidInput(m) => refused(CLEANUP_REFUSED)(m),
            other => refused(CLEANUP_REFUSED)(other.to_string()),
        })
}

/// Why the panel's cleanup in `mode` may not start now (409), in words; None when
/// it may: `running_prompt` is the id of the prompt ComfyUI runs, `busy` whether
/// another cleanup runs.
#[pyfunction]
#[pyo3(signature = (mode, running_prompt, busy))]
fn cleanup_refusal(
    mode: &str,
    running_prompt: Option<&str>,
    busy: bool,
) -> PyResult<Option<String>> {
    let mode = CleanupMode::parse(mode).map_err(|e| bad(e.to_string()))?;
    Ok(
        modes::cleanup_admission(mode, running_prompt.is_some(), busy)
            .map(|r| words::cleanup_refused(r, mode, running_prompt.unwrap_or_default())),
    )
}

/// `POST /memwarden/feed`'s body: (client_id, interval_s within bounds, enabled).
#[pyfunction]
fn feed_request(text: &str) -> PyResult<(String, f64, bool)> {
    let FeedRequest {
        client_id,
        interval_s,
        enabled,
    } = request::feed_request(text).map_err(refused(FEED_REFUSED))?;
    Ok((client_id, interval_s, enabled))
}

/// `POST /memwarden/guard`'s body: (enabled or None, reserve in MiB or None).
#[pyfunction]
fn guard_request(text: &str) -> PyResult<(Option<bool>, Option<u64>)> {
    let GuardRequest {
        enabled,
        reserve_mb,
    } = request::guard_request(text).map_err(refused(GUARD_REFUSED))?;
    Ok((enabled, reserve_mb))
}

/// Adds the request parsers and the feed's interval bounds to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cleanup_request, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup_refusal, m)?)?;
    m.add_function(wrap_pyfunction!(feed_request, m)?)?;
    m.add_function(wrap_pyfunction!(guard_request, m)?)?;
    m.add("FEED_MIN_INTERVAL_S", request::FEED_MIN_INTERVAL_S)?;
    m.add("FEED_MAX_INTERVAL_S", request::FEED_MAX_INTERVAL_S)?;
    m.add("FEED_DEFAULT_INTERVAL_S", request::FEED_DEFAULT_INTERVAL_S)?;
    Ok(())
}
