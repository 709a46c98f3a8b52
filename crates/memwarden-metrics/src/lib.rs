//! A memwarden [`Snapshot`] (plus optional activity figures) as Prometheus text:
//! OpenMetrics 1.0.0 or the classic text format 0.0.4, encoded by
//! `prometheus-client`. Every series is prefixed `memwarden_` and named after the
//! exporters people already run beside it (node_exporter, cAdvisor, the NVIDIA
//! exporters); docs/metrics.md has the table.
//!
//! One call, one snapshot: nothing here samples in the background or keeps state,
//! so the figures of a scrape are those of the snapshot it was handed.

mod families;

use std::sync::atomic::AtomicU64;

use memwarden_core::Snapshot;
use prometheus_client::encoding::text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::{Metric, Registry, Unit};

/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which text format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0 (`# UNIT` lines, counters named without `_total`, `# EOF`).
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4, what `promtool check metrics` reads.
    Prometheus,
}

impl Format {
    /// The format an HTTP `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` (as Prometheus itself does), else 0.0.4.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

/// Cleanups of one action started by one trigger, since the process started.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanupCount {
    /// What ran, e.g. `standard`, `aggressive`, `vram_unload`, `pageout`.
    pub action: String,
    /// What started it, e.g. `manual`, `threshold`, `schedule`.
    pub trigger: String,
    /// How many times.
    pub count: u64,
    /// Bytes those cleanups reclaimed in all (the reports' before minus after).
    pub reclaimed_bytes: u64,
}

/// What memwarden did, for the series a snapshot alone cannot give. The owner of
/// that history (the ComfyUI pack's background manager, the leak detector) fills
/// it; [`encode`] writes `memwarden_cleanups_total{action,trigger}`,
/// `memwarden_cleanup_reclaimed_bytes_total{action}` and
/// `memwarden_leak_slope_bytes_per_prompt` from it, and leaves them out when no
/// activity is given. Counts are totals since the owner started (counters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    pub cleanups: Vec<CleanupCount>,
    /// Growth of resident memory per prompt fitted by the leak detector, in bytes.
    pub leak_slope_bytes_per_prompt: Option<f64>,
}

/// A label set: `(name, value)` pairs in order.
type Labels = Vec<(String, String)>;

/// Builds one registry per scrape. Each `gauge*` / `counter*` call registers one
/// family with every sample it is given; a family without samples is left out.
struct Builder {
    reg: Registry,
}

impl Builder {
    fn bytes(&mut self, name: &str, help: &str, samples: Vec<(Labels, u64)>) {
        self.add::<Gauge, _>(name, help, Some(Unit::Bytes), samples, |g, v| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        });
    }

    /// A gauge without a unit suffix (ratios, counts, levels, `_info`).
    fn gauge(&mut self, name: &str, help: &str, samples: Vec<(Labels, f64)>) {
        self.add::<Gauge<f64, AtomicU64>, _>(name, help, None, samples, |g, v| {
            g.set(v);
        });
    }

    fn seconds_total(&mut self, name: &str, help: &str, samples: Vec<(Labels, f64)>) {
        self.add::<Counter<f64, AtomicU64>, _>(name, help, Some(Unit::Seconds), samples, |c, v| {
            c.inc_by(v);
        });
    }

    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>, samples: Vec<(Labels, u64)>) {
        self.add::<Counter, _>(name, help, unit, samples, |c, v| {
            c.inc_by(v);
        });
    }

    /// Register one family holding `samples`; a lone sample without labels is a
    /// plain metric (`name value`, not `name{} value`). No samples, no family.
    fn add<M, T>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        samples: Vec<(Labels, T)>,
        set: impl Fn(&M, T),
    ) where
        M: Metric + TypedMetric + Default + Clone,
    {
        let help = help.trim_end_matches('.');
        match <[_; 1]>::try_from(samples) {
            Ok([(l, v)]) if l.is_empty() => {
                let m = M::default();
                set(&m, v);
                self.register(name, help, unit, m);
            }
            Ok(one) => self.register(name, help, unit, family(Vec::from(one), set)),
            Err(v) if v.is_empty() => {}
            Err(v) => self.register(name, help, unit, family(v, set)),
        }
    }

    fn register(&mut self, name: &str, help: &str, unit: Option<Unit>, metric: impl Metric) {
        match unit {
            Some(u) => self.reg.register_with_unit(name, help, u, metric),
            None => self.reg.register(name, help, metric),
        }
    }
}

fn family<M, T>(samples: Vec<(Labels, T)>, set: impl Fn(&M, T)) -> Family<Labels, M>
where
    M: Metric + TypedMetric + Default + Clone,
{
    let fam = Family::<Labels, M>::default();
    for (labels, v) in samples {
        set(&fam.get_or_create(&labels), v);
    }
    fam
}

/// One sample without labels.
fn one<T>(v: T) -> Vec<(Labels, T)> {
    vec![(Vec::new(), v)]
}

/// Labels from `(name, value)` pairs.
fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// The snapshot (and the activity, when given) as Prometheus text in `format`.
pub fn encode(snap: &Snapshot, activity: Option<&Activity>, format: Format) -> String {
    let mut b = Builder {
        reg: Registry::with_prefix("memwarden"),
    };
    families::system(&mut b, snap);
    families::container(&mut b, snap);
    families::pressure(&mut b, snap);
    families::processes(&mut b, snap);
    families::gpu(&mut b, snap);
    families::snapshot_meta(&mut b, snap);
    if let Some(a) = activity {
        families::activity(&mut b, a);
    }
    let mut out = String::new();
    text::encode(&mut out, &b.reg).expect("writing to a String cannot fail");
    match format {
        Format::OpenMetrics => out,
        Format::Prometheus => to_prometheus_text(&out),
    }
}

/// OpenMetrics text to the 0.0.4 format: a counter family takes its samples'
/// `_total` name in its `# HELP` / `# TYPE` lines, and the `# UNIT` and `# EOF`
/// lines, which 0.0.4 does not have, go. Samples are the same in both.
fn to_prometheus_text(om: &str) -> String {
    let counters: Vec<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
