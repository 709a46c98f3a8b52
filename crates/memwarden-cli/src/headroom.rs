//! `memwarden headroom`: how far this process (or `--pid`) is from the memory limit
//! that binds it, what is watched and how; with `--watch`, one line (or JSON line)
//! each time headroom falls through the reserve or the limit changes. It only
//! reads (and, as root on cgroup v1, registers a usage-threshold listener).

use std::time::{Duration, Instant};

use clap::Args;
use memwarden_core::render::headroom::{headroom_text, wake_line};
use memwarden_core::watch::headroom::HeadroomWatch;
use memwarden_core::{Error, WakeReason};
use serde::Serialize;

use crate::{parse_size, write_stdout};

#[derive(Args)]
pub(crate) struct HeadroomArgs {
    /// The process whose limits are read (default: memwarden itself).
    #[arg(long, allow_negative_numbers = true)]
    pid: Option<i64>,
    /// What to keep free under the binding limit, e.g. 1G (default: 10 % of the
    /// limit, at least 512M, at most 2G).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_size)]
    reserve: Option<u64>,
    /// Keep watching: print each fall through the reserve and each limit change.
    #[arg(long)]
    watch: bool,
    /// With --watch: stop after this many events.
    #[arg(long, value_name = "N", requires = "watch", value_parser = parse_events)]
    count: Option<u64>,
    /// With --watch: stop after this many seconds (also without an event).
    #[arg(long, value_name = "SECONDS", requires = "watch", value_parser = parse_seconds)]
    seconds: Option<f64>,
    /// Would loading this model file fit? Its tensors (safetensors header) at their
    /// own dtype, or at --as; exit 9 when it cannot fit under the binding limit.
    #[arg(long, value_name = "MODEL", conflicts_with = "watch")]
    load: Option<std::path::PathBuf>,
    /// With --load: the bytes per parameter the model's weights take in RAM (fp32 =
    /// 4, what ComfyUI loads a diffusion model at on the CPU; fp16/bf16 = 2).
    #[arg(long = "as", value_name = "DTYPE", requires = "load", value_enum)]
    as_dtype: Option<LoadDtype>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LoadDtype {
    Fp32,
    Fp16,
    Bf16,
    Fp8,
}

/// Predict loading `path` and judge it under `r`: the prediction and plan, or the
/// refusal as an error (exit 9).
fn would_load(
    path: &std::path::Path,
    dtype: Option<LoadDtype>,
    r: &memwarden_core::Headroom,
    reserve: u64,
) -> Result<(memwarden_core::LoadPrediction, memwarden_core::LoadPlan), Error> {
    use memwarden_core::policy::{headroom::plan_load, predict};
    use memwarden_core::Component;
    let (size, tensors) = memwarden_core::probe::model_file::read_model_file(path)?;
    let itemsize: Vec<(Component, u32)> = match dtype {
        None => vec![],
        Some(d) => {
            let b = match d {
                LoadDtype::Fp32 => 4,
                LoadDtype::Fp16 | LoadDtype::Bf16 => 2,
                LoadDtype::Fp8 => 1,
            };
            [
                Component::Diffusion,
                Component::TextEncoder,
                Component::Vae,
                Component::Other,
            ]
            .into_iter()
            .map(|c| (c, b))
            .collect()
        }
    };
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let p = predict::predict(&predict::LoadFacts {
        file: &name,
        file_bytes: size,
        tensors: tensors.as_deref(),
        default_component: Component::Other,
        itemsize: &itemsize,
        measured_bytes: None,
    });
    let plan = plan_load(&format!("loading {name}"), p.bytes, r, reserve, 0);
    if let Some(refusal) = plan.refusal.clone() {
        return Err(Error::HeadroomRefused {
            message: memwarden_core::render::headroom::refusal(
                &refusal,
                memwarden_core::render::headroom::Knobs::CLI,
            ),
            refusal: Box::new(refusal),
        });
    }
    Ok((p, plan))
}

fn parse_events(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "'{s}' is not a count of events (a whole number, 1 or more)"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of seconds (more than 0, at most 86400)"
        )),
    }
}

#[derive(Serialize)]
struct Now<'a> {
    reading: &'a memwarden_core::Headroom,
    reserve_bytes: u64,
    watching: String,
}

pub(crate) fn run(a: &HeadroomArgs, json: bool) -> Result<(), Error> {
    let pid = match a.pid {
        Some(p) => memwarden_core::validate_pid(p)?,
        None => std::process::id(),
    };
    let mut w = HeadroomWatch::open(pid, a.reserve)?;
    let r = w.read_now()?;
    if let Some(path) = &a.load {
        let (p, plan) = would_load(path, a.as_dtype, &r, w.reserve())?;
        if json {
            let v = serde_json::json!({ "reading": r, "reserve_bytes": w.reserve(), "prediction": p, "plan": plan });
            write_stdout(&(serde_json::to_string(&v).expect("serializes") + "\n"))?;
        } else {
            write_stdout(&format!(
                "{}Load     : {}\n           it fits{}\n",
                headroom_text(&r, w.reserve(), &w.describe()),
                memwarden_core::render::headroom::prediction_line(&p),
                if p.bytes <= r.headroom_bytes.saturating_sub(w.reserve()) {
                    ""
                } else {
                    " (into the reserve)"
                }
            ))?;
        }
        return Ok(());
    }
    let now = Now {
        reading: &r,
        reserve_bytes: w.reserve(),
        watching: w.describe(),
    };
    if json {
        write_stdout(&(serde_json::to_string(&now).expect("serializes") + "\n"))?;
    } else {
        write_stdout(&headroom_text(&r, w.reserve(), &now.watching))?;
    }
    if !a.watch {
        return Ok(());
    }
    let end = a
        .seconds
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut seen = 0;
    loop {
        let left = end.map_or(Duration::from_secs(3600), |e| {
            e.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Ok(());
        }
        let wake = w.wait(left.min(Duration::from_secs(3600)))?;
        if wake.reason == WakeReason::Timeout {
            continue;
        }
        if json {
            write_stdout(&(serde_json::to_string(&wake).expect("serializes") + "\n"))?;
        } else {
            write_stdout(&(wake_line(&wake) + "\n"))?;
        }
        seen += 1;
        if a.count.is_some_and(|c| seen >= c) {
            return Ok(());
        }
    }
}
