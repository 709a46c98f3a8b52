use memwarden_core::*;

use super::*;

/// A 16 GiB host in a Docker container limited to 8 GiB, PSI on both levels, one
/// GPU with one process, ComfyUI as the inspected process.
fn snapshot() -> Snapshot {
    let system = SystemMemory {
        total_bytes: 16 << 30,
        available_bytes: 12 << 30,
        free_bytes: 2 << 30,
        used_bytes: 4 << 30,
        percent_used: 25.0,
        swap_total_bytes: 4 << 30,
        swap_free_bytes: 3 << 30,
        swap_used_bytes: 1 << 30,
        ..Default::default()
    };
    let comfy = ProcessMemory {
        pid: 4242,
        name: "python3".into(),
        cmdline: "python3 main.py".into(),
        rss_bytes: 3 << 30,
        rss_anon_bytes: 2 << 30,
        ..Default::default()
    };
    let psi = |some_us, full_us| Psi {
        some: PsiLine {
            total_us: some_us,
            ..Default::default()
        },
        full: Some(PsiLine {
            total_us: full_us,
            ..Default::default()
        }),
    };
    Snapshot {
        schema_version: SCHEMA_VERSION,
        taken_at_unix_ms: 0,
        collect_duration_us: 1500,
        kernel: "6.1.0".into(),
        process: Some(comfy.clone()),
        effective: EffectiveMemory {
            source: MemorySource::Cgroup,
            reason: "container limit".into(),
            total_bytes: 8 << 30,
            used_bytes: 2 << 30,
            available_bytes: 6 << 30,
            percent_used: 25.0,
        },
        system,
        container: ContainerInfo {
            detected: true,
            runtime: Some(ContainerRuntime::Docker),
            evidence: vec!["/.dockerenv exists".into()],
            cgroup: Some(CgroupMemory {
                version: 2,
                path: "/docker/abc".into(),
                limit_bytes: Some(8 << 30),
                usage_bytes: 3 << 30,
                working_set_bytes: 2 << 30,
                inactive_file_bytes: 1 << 30,
                anon_bytes: Some(1 << 30),
                ..Default::default()
            }),
        },
        pressure: PressureInfo {
            system: Some(psi(2_500_000, 1_000_000)),
            cgroup: Some(Psi {
                some: PsiLine {
                    total_us: 7,
                    ..Default::default()
                },
                full: None,
            }),
            level: PressureLevel::Moderate,
            description: "moderate".into(),
        },
        top_processes: TopProcesses {
            scope: ProcessScope::Visible,
            scanned: 1,
            processes: vec![comfy],
        },
        gpu: GpuInfo {
            available: true,
            devices: vec![GpuDevice {
                index: 0,
                name: "NVIDIA H100".into(),
                uuid: "GPU-1234".into(),
                total_bytes: 80 << 30,
                used_bytes: 10 << 30,
                free_bytes: 70 << 30,
                percent_used: 12.5,
                utilization_gpu_percent: Some(40),
                utilization_memory_percent: None,
                cuda_ordinal: Some(0),
            }],
            processes: vec![GpuProcess {
                gpu_index: 0,
                pid: 4242,
                kind: GpuProcessKind::Compute,
                used_bytes: Some(9 << 30),
                name: Some("python3".into()),
                cmdline: None,
                visible: true,
            }],
            ..Default::default()
        },
        warnings: vec!["one".into()],
    }
}

fn activity() -> Activity {
    let c = |action: &str, trigger: &str, count, reclaimed_bytes| CleanupCount {
        action: action.into(),
        trigger: trigger.into(),
        count,
        reclaimed_bytes,
    };
    Activity {
        cleanups: vec![
            c("aggressive", "threshold", 3, 300),
            c("aggressive", "manual", 1, 50),
            c("standard", "manual", 2, 20),
        ],
        leak_slope_bytes_per_prompt: Some(1048576.5),
    }
}

/// Every sample line of `text` whose name and labels start with `prefix`.
/// Every sample line of `text` whose name and labels start with `prefix`, sorted
/// (a family keeps its label sets in a hash map).
fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    v.sort_unstable();
    v
}

#[test]
fn system_figures_in_bytes() {
    let t = encode(&snapshot(), None, Format::Prometheus);
    assert_eq!(
        lines(&t, "memwarden_memory_total_bytes "),
        ["memwarden_memory_total_bytes 17179869184"]
    );
    assert_eq!(
        lines(&t, "memwarden_swap_used_bytes "),
        ["memwarden_swap_used_bytes 1073741824"]
    );
    assert_eq!(
        lines(&t, "memwarden_memory_used_ratio "),
        ["memwarden_memory_used_ratio 0.25"]
    );
    assert!(t.contains("# TYPE memwarden_memory_total_bytes gauge\n"));
    assert_eq!(
        lines(&t, "memwarden_effective_memory_total_bytes"),
        ["memwarden_effective_memory_total_bytes{source=\"cgroup\"} 8589934592"]
    );
}

#[test]
fn container_figures_as_cadvisor() {
    let t = encode(&snapshot(), None, Format::Prometheus);
    let l = "{cgroup=\"/docker/abc\",cgroup_version=\"2\"}";
    assert_eq!(
        lines(&t, "memwarden_container_spec_memory_limit_bytes"),
        [format!(
            "memwarden_container_spec_memory_limit_bytes{l} 8589934592"
        )]
    );
    assert_eq!(
        lines(&t, "memwarden_container_memory_working_set_bytes"),
        [format!(
            "memwarden_container_memory_working_set_bytes{l} 2147483648"
        )]
    );
    // Unset figures are left out, not written as 0.
    assert!(!t.contains("memwarden_container_spec_memory_high_bytes"));
    assert!(!t.contains("memwarden_container_memory_swap_bytes"));
    assert_eq!(
        lines(&t, "memwarden_container_info"),
        ["memwarden_container_info{runtime=\"docker\",detected=\"true\"} 1.0"]
    );
}

#[test]
fn pressure_totals_in_seconds() {
    let t = encode(&snapshot(), None, Format::Prometheus);
    assert!(t.contains("# TYPE memwarden_pressure_memory_waiting_seconds_total counter\n"));
    assert_eq!(
        lines(&t, "memwarden_pressure_memory_waiting_seconds_total{"),
        [
            "memwarden_pressure_memory_waiting_seconds_total{scope=\"cgroup\"} 0.000007",
            "memwarden_pressure_memory_waiting_seconds_total{scope=\"system\"} 2.5"
        ]
    );
    // The cgroup reports no "full" line: only the system's is written.
    assert_eq!(
        lines(&t, "memwarden_pressure_memory_stalled_seconds_total{"),
        ["memwarden_pressure_memory_stalled_seconds_total{scope=\"system\"} 1.0"]
    );
    assert_eq!(
        lines(&t, "memwarden_pressure_level "),
        ["memwarden_pressure_level 2.0"]
    );
}

#[test]
fn gpu_figures_labelled_gpu_and_uuid() {
    let t = encode(&snapshot(), None, Format::Prometheus);
    assert_eq!(
        lines(&t, "memwarden_gpu_memory_used_bytes"),
        ["memwarden_gpu_memory_used_bytes{gpu=\"0\",uuid=\"GPU-1234\",name=\"NVIDIA H100\"} 10737418240"]
    );
    assert_eq!(
        lines(&t, "memwarden_gpu_utilization_ratio{"),
        ["memwarden_gpu_utilization_ratio{gpu=\"0\",uuid=\"GPU-1234\",name=\"NVIDIA H100\"} 0.4"]
    );
    // No memory utilization reading: no series.
    assert!(!t.contains("memwarden_gpu_memory_utilization_ratio"));
    assert_eq!(
        lines(&t, "memwarden_gpu_process_memory_used_bytes"),
        ["memwarden_gpu_process_memory_used_bytes{gpu=\"0\",uuid=\"GPU-1234\",pid=\"4242\",command=\"python3\"} 9663676416"]
    );
}

#[test]
fn inspected_and_top_processes() {
    let t = encode(&snapshot(), None, Format::Prometheus);
    assert_eq!(
        lines(&t, "memwarden_process_resident_memory_bytes{"),
        ["memwarden_process_resident_memory_bytes{pid=\"4242\",command=\"python3\"} 3221225472"]
    );
    assert_eq!(lines(&t, "memwarden_top_process_resident_memory_bytes{"), ["memwarden_top_process_resident_memory_bytes{pid=\"4242\",command=\"python3\"} 3221225472"]);
    assert_eq!(
        lines(&t, "memwarden_snapshot_warnings "),
        ["memwarden_snapshot_warnings 1.0"]
    );
    assert_eq!(
        lines(&t, "memwarden_snapshot_duration_seconds "),
        ["memwarden_snapshot_duration_seconds 0.0015"]
    );
}

#[test]
fn activity_only_when_given() {
    let without = encode(&snapshot(), None, Format::Prometheus);
    assert!(!without.contains("cleanup"));
    assert!(!without.contains("leak_slope"));
    let t = encode(&snapshot(), Some(&activity()), Format::Prometheus);
    assert!(t.contains("# TYPE memwarden_cleanups_total counter\n"));
    assert_eq!(
        lines(&t, "memwarden_cleanups_total{"),
        [
            "memwarden_cleanups_total{action=\"aggressive\",trigger=\"manual\"} 1",
            "memwarden_cleanups_total{action=\"aggressive\",trigger=\"threshold\"} 3",
            "memwarden_cleanups_total{action=\"standard\",trigger=\"manual\"} 2",
        ]
    );
    // Bytes reclaimed are summed per action over its triggers.
    assert_eq!(
        lines(&t, "memwarden_cleanup_reclaimed_bytes_total{"),
        [
            "memwarden_cleanup_reclaimed_bytes_total{action=\"aggressive\"} 350",
            "memwarden_cleanup_reclaimed_bytes_total{action=\"standard\"} 20"
        ]
    );
    assert_eq!(
        lines(&t, "memwarden_leak_slope_bytes_per_prompt "),
        ["memwarden_leak_slope_bytes_per_prompt 1048576.5"]
    );
}

#[test]
fn openmetrics_has_units_counter_families_and_eof() {
    let t = encode(&snapshot(), Some(&activity()), Format::OpenMetrics);
    assert!(t.ends_with("# EOF\n"));
    assert!(t.contains("# UNIT memwarden_memory_total_bytes bytes\n"));
    assert!(t.contains("# TYPE memwarden_cleanups counter\n"));
    assert!(t.contains("\nmemwarden_cleanups_total{action=\"standard\",trigger=\"manual\"} 2\n"));
    let classic = encode(&snapshot(), Some(&activity()), Format::Prometheus);
    assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"));
    // Same samples in both formats.
    let samples = |s: &str| {
        let mut v: Vec<String> = s
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(samples(&t), samples(&classic));
}

#[test]
fn format_from_accept_header() {
    let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::from_accept(Some(prom)), Format::OpenMetrics);
    assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
    assert_eq!(Format::from_accept(None), Format::Prometheus);
    assert!(Format::OpenMetrics
        .content_type()
        .starts_with("application/openmetrics-text"));
}

#[test]
fn label_values_are_escaped() {
    let mut s = snapshot();
    s.top_processes.processes[0].name = "a\"b\\c\nd".into();
    let t = encode(&s, None, Format::Prometheus);
    assert!(
        t.contains(
            "memwarden_top_process_resident_memory_bytes{pid=\"4242\",command=\"a\\\"b\\\\c\\nd\"}"
        ),
        "{t}"
    );
}

/// Every `memwarden_*` name in `promql`.
fn metric_names(promql: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = promql;
    while let Some(i) = rest.find("memwarden_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every query of the Grafana dashboard (panels and the instance variable) names
/// only series the exporter writes, given a snapshot with every part present and
/// the ComfyUI pack's activity.
#[test]
fn grafana_dashboard_names_only_emitted_series() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/memwarden.json"
    );
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queries: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    for v in dash["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            queries.push(q.to_string());
        }
    }
    let text = encode(&snapshot(), Some(&activity()), Format::Prometheus);
    let emitted: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    let mut checked = 0;
    for q in &queries {
        let names = metric_names(q);
        assert!(!names.is_empty(), "query names no memwarden series: {q}");
        for n in names {
            assert!(
                emitted.contains(n.as_str()),
                "{n} (in `{q}`) is not a series the exporter writes"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= queries.len() && queries.len() > 10,
        "{queries:?}"
    );
    assert_eq!(
        metric_names("rate(memwarden_a_total[1m]) / memwarden_b"),
        ["memwarden_a_total", "memwarden_b"]
    );
}
