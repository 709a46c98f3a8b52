//! Constructed snapshots for the tests, built from `check --json` objects through
//! serde as any consumer of the JSON would (the core's own test helper is private
//! to it).

use memwarden_core::Snapshot;
use serde_json::{json, Value};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn process(pid: u32, name: &str, cmdline: &str, rss: u64, swap: u64) -> Value {
    json!({
        "pid": pid, "name": name, "cmdline": cmdline,
        "rss_bytes": rss, "rss_anon_bytes": rss, "rss_file_bytes": 0, "rss_shmem_bytes": 0,
        "vms_bytes": rss * 2, "swap_bytes": swap
    })
}

fn psi(some: f64, full: Option<f64>) -> Value {
    let line = |avg10: f64| json!({"avg10": avg10, "avg60": 0.0, "avg300": 0.0, "total_us": 0});
    json!({"some": line(some), "full": full.map(line)})
}

fn gpu(index: u32, name: &str, used: u64, total: u64, percent: f64) -> Value {
    json!({
        "index": index, "name": name, "uuid": format!("GPU-{index}"),
        "total_bytes": total, "used_bytes": used, "free_bytes": total - used,
        "percent_used": percent, "utilization_gpu_percent": 87,
        "utilization_memory_percent": 40
    })
}

fn processes() -> Value {
    json!([
        process(4242, "python3", "python3 main.py --listen", 2 * GIB, 0),
        process(900, "Xorg", "/usr/lib/xorg/Xorg :0", 512 * MIB, 0),
        process(77, "bash", "-bash", 16 * MIB, MIB),
        process(1300, "zsh", "", 16 * MIB, 2 * GIB),
    ])
}

fn base() -> Value {
    json!({
        "schema_version": 2, "taken_at_unix_ms": 0, "collect_duration_us": 900,
        "kernel": "6.1.0-test", "process": null,
        "system": {
            "total_bytes": 16 * GIB, "available_bytes": 10 * GIB, "available_estimated": false,
            "free_bytes": 8 * GIB, "used_bytes": 6 * GIB, "percent_used": 37.5,
            "buffers_bytes": 0, "cached_bytes": 2 * GIB, "shmem_bytes": 0,
            "swap_total_bytes": 4 * GIB, "swap_free_bytes": 3 * GIB, "swap_used_bytes": GIB,
            "swap_cached_bytes": 0, "committed_bytes": 0, "commit_limit_bytes": 0
        },
        "container": {"detected": false, "runtime": null, "evidence": [], "cgroup": null},
        "effective": {
            "source": "host", "reason": "no memory cgroup found",
            "total_bytes": 16 * GIB, "used_bytes": 6 * GIB, "available_bytes": 10 * GIB,
            "percent_used": 37.5
        },
        "pressure": {
            "system": psi(12.5, Some(3.25)), "cgroup": null,
            "level": "moderate", "description": "moderate"
        },
        "top_processes": {"scope": "visible", "scanned": 312, "processes": processes()},
        "gpu": {
            "available": true, "driver_version": "550.54",
            "devices": [
                gpu(0, "NVIDIA GeForce RTX 4090", 22 * GIB, 24 * GIB, 91.7),
                gpu(1, "NVIDIA A100-SXM4-80GB", 8 * GIB, 80 * GIB, 10.0),
            ],
            "processes": [
                {"gpu_index": 0, "pid": 4242, "kind": "compute", "used_bytes": 20 * GIB,
                 "name": "python3", "cmdline": "python3 main.py --listen", "visible": true},
                {"gpu_index": 0, "pid": 31337, "kind": "graphics", "used_bytes": null,
                 "name": null, "cmdline": null, "visible": false}
            ]
        },
        "warnings": []
    })
}

fn snapshot(v: Value) -> Snapshot {
    serde_json::from_value(v).expect("the fixture is a valid snapshot")
}

/// A 16 GiB host with 4 GiB of swap (1 GiB used), moderate pressure, two GPUs
/// (the first 22 of 24 GiB full, with a visible and a hidden process) and four
/// processes.
pub fn host() -> Snapshot {
    snapshot(base())
}

/// The same host inside a container limited to 4 GiB (3 GiB working set), no
/// swap, PSI from the system and the cgroup, no GPU.
pub fn container() -> Snapshot {
    let mut v = base();
    v["system"]["swap_total_bytes"] = json!(0);
    v["system"]["swap_free_bytes"] = json!(0);
    v["system"]["swap_used_bytes"] = json!(0);
    v["container"] = json!({
        "detected": true, "runtime": "docker", "evidence": ["/.dockerenv exists"],
        "cgroup": {
            "version": 2, "path": "/docker/abc", "dir": "/sys/fs/cgroup/docker/abc",
            "limit_bytes": 4 * GIB, "usage_bytes": 3 * GIB + 512 * MIB,
            "working_set_bytes": 3 * GIB, "inactive_file_bytes": 512 * MIB
        }
    });
    v["effective"] = json!({
        "source": "cgroup", "reason": "cgroup v2 limit 4.00 GiB is below host RAM",
        "total_bytes": 4 * GIB, "used_bytes": 3 * GIB, "available_bytes": GIB,
        "percent_used": 75.0
    });
    v["pressure"]["cgroup"] = psi(40.0, None);
    v["pressure"]["level"] = json!("high");
    v["gpu"] = json!({
        "available": false,
        "unavailable_reason": "no NVIDIA GPU visible (NVML library not found)",
        "devices": [], "processes": []
    });
    snapshot(v)
}
