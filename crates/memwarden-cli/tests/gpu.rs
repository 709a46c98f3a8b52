//! The GPU probe's real code path (dlopen of NVML through nvml-wrapper, the two-call
//! process listing, the join with /proc) against a stand-in NVML library built from
//! tests/fixtures/nvml_stub.c, since no GPU or driver is present here. What the
//! real driver reports on real hardware is not exercised by these tests.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

const GIB: u64 = 1 << 30;

/// Build the stand-in library once per test binary; None (with the reason) when no
/// C compiler is available.
fn stub() -> Result<&'static PathBuf, &'static str> {
    static LIB: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    LIB.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nvml_stub.c");
        let out =
            std::env::temp_dir().join(format!("memwarden-nvml-stub-{}.so", std::process::id()));
        match Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .output()
        {
            Ok(o) if o.status.success() => Ok(out),
            Ok(o) => Err(format!("cc failed: {}", String::from_utf8_lossy(&o.stderr))),
            Err(e) => Err(format!(
                "no C compiler (cc) to build the NVML stand-in: {e}"
            )),
        }
    })
    .as_ref()
    .map_err(String::as_str)
}

fn with_stub(lib: &PathBuf, gpus: &str, procs: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env("MEMWARDEN_NVML_LIB", lib)
        .env("MEMWARDEN_STUB_GPUS", gpus)
        .env("MEMWARDEN_STUB_PROCS", procs)
        .env_remove("MEMWARDEN_STUB_INIT_ERROR")
        .output()
        .unwrap()
}

#[test]
fn two_gpus_and_the_processes_holding_them() {
    let lib = match stub() {
        Ok(l) => l,
        Err(e) => skip!("{e}"),
    };
    let child = AllocChild::spawn(1);
    let gpus = format!(
        "NVIDIA H100 80GB HBM3:{}:{};NVIDIA L4:{}:{}",
        80 * GIB,
        12 * GIB,
        24 * GIB,
        6 * GIB
    );
    let procs = format!("0:{}:{}:compute;1:4000000:na:graphics", child.pid, 10 * GIB);
    let out = with_stub(lib, &gpus, &procs, &["check", "--json", "--top", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let g = &json(&out)["gpu"];
    assert_eq!(g["available"], true);
    assert_eq!(g["driver_version"], "999.99-stub");
    let d = g["devices"].as_array().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0]["name"], "NVIDIA H100 80GB HBM3");
    assert_eq!(d[0]["total_bytes"].as_u64().unwrap(), 80 * GIB);
    assert_eq!(d[0]["used_bytes"].as_u64().unwrap(), 12 * GIB);
    assert_eq!(d[0]["free_bytes"].as_u64().unwrap(), 68 * GIB);
    assert_eq!(d[0]["percent_used"].as_f64().unwrap(), 15.0);
    assert_eq!(d[0]["utilization_gpu_percent"], 37);
    assert_eq!(d[1]["percent_used"].as_f64().unwrap(), 25.0);
    assert!(d[1]["uuid"].as_str().unwrap().starts_with("GPU-"));

    let p = g["processes"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    let mine = p
        .iter()
        .find(|x| x["pid"] == child.pid)
        .expect("child listed");
    assert_eq!(mine["gpu_index"], 0);
    assert_eq!(mine["kind"], "compute");
    assert_eq!(mine["used_bytes"].as_u64().unwrap(), 10 * GIB);
    assert_eq!(mine["visible"], true);
    assert_eq!(mine["name"], "alloc_child", "joined with /proc");
    let ghost = p.iter().find(|x| x["pid"] == 4_000_000).unwrap();
    assert_eq!(ghost["visible"], false);
    assert_eq!(ghost["kind"], "graphics");
    assert!(
        ghost["used_bytes"].is_null(),
        "NVML_VALUE_NOT_AVAILABLE reads as unknown"
    );
    assert!(g["pid_namespace_note"]
        .as_str()
        .unwrap()
        .contains("not visible"));

    // The text report says which process holds which GPU.
    let text = stdout(&with_stub(lib, &gpus, &procs, &["check", "--top", "0"]));
    assert!(text.contains("Processes holding GPU memory:"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains(&format!("PID {}", child.pid)))
        .expect("child line");
    assert!(
        line.contains("compute") && line.contains("10.00 GiB") && line.contains("alloc_child"),
        "{line}"
    );
    assert!(
        text.contains("GPU 1  NVIDIA L4  6.00 GiB used of 24.00 GiB (25.0%)"),
        "{text}"
    );
}

#[test]
fn status_line_sums_vram_over_gpus() {
    let lib = match stub() {
        Ok(l) => l,
        Err(e) => skip!("{e}"),
    };
    let gpus = format!(
        "A:{}:{};B:{}:{}",
        24 * GIB,
        12 * GIB,
        24 * GIB,
        (63 * GIB) / 10
    );
    let out = with_stub(lib, &gpus, "", &["status"]);
    let line = stdout(&out);
    let (ram, vram) = line.trim_end().split_once(" | ").unwrap();
    assert!(ram.starts_with("RAM: ") && ram.ends_with("%)"), "{line}");
    // 18.3 GiB of 48 GiB = 38%.
    assert_eq!(vram, "VRAM: 18.3GB/48GB (38%)", "{line}");
    let v = json(&with_stub(lib, &gpus, "", &["status", "--json"]));
    assert_eq!(v["vram_total_bytes"].as_u64().unwrap(), 48 * GIB);
}

fn assert_degrades(out: &Output, needle: &str) {
    assert!(out.status.success(), "{}", stderr(out));
    let v = json(out);
    assert_eq!(v["gpu"]["available"], false);
    let reason = v["gpu"]["unavailable_reason"].as_str().unwrap();
    assert!(reason.starts_with("no NVIDIA GPU visible ("), "{reason}");
    assert!(reason.contains(needle), "{reason}");
    assert!(
        v["system"]["total_bytes"].as_u64().unwrap() > 0,
        "everything else still works"
    );
}

#[test]
fn driver_not_loaded_degrades_gracefully() {
    let lib = match stub() {
        Ok(l) => l,
        Err(e) => skip!("{e}"),
    };
    let out = Command::new(bin())
        .args(["check", "--json", "--top", "1"])
        .env("MEMWARDEN_NVML_LIB", lib)
        .env("MEMWARDEN_STUB_INIT_ERROR", "9") // NVML_ERROR_DRIVER_NOT_LOADED
        .output()
        .unwrap();
    assert_degrades(&out, "driver is not loaded");
    let line = stdout(
        &Command::new(bin())
            .arg("status")
            .env("MEMWARDEN_NVML_LIB", lib)
            .env("MEMWARDEN_STUB_INIT_ERROR", "9")
            .output()
            .unwrap(),
    );
    assert!(line.trim_end().ends_with("| VRAM: n/a"), "{line}");
}

#[test]
fn missing_library_degrades_gracefully() {
    let out = Command::new(bin())
        .args(["check", "--json", "--top", "1"])
        .env("MEMWARDEN_NVML_LIB", "/nonexistent/libnvidia-ml.so.1")
        .output()
        .unwrap();
    assert_degrades(&out, "NVML library not found");
}

#[test]
fn zero_devices_degrades_gracefully() {
    let lib = match stub() {
        Ok(l) => l,
        Err(e) => skip!("{e}"),
    };
    assert_degrades(
        &with_stub(lib, "", "", &["check", "--json", "--top", "0"]),
        "0 devices",
    );
}

#[test]
fn own_pid_namespace_is_detected_and_said() {
    let lib = match stub() {
        Ok(l) => l,
        Err(e) => skip!("{e}"),
    };
    if !is_root() {
        skip!("unshare --pid needs root");
    }
    // A real PID namespace, as in a container: the driver reports host PIDs.
    let child = AllocChild::spawn(1);
    let out = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            bin(),
            "check",
            "--json",
            "--top",
            "0",
        ])
        .env("MEMWARDEN_NVML_LIB", lib)
        .env("MEMWARDEN_STUB_GPUS", format!("A:{}:{}", 8 * GIB, GIB))
        .env(
            "MEMWARDEN_STUB_PROCS",
            format!("0:{}:{}:compute", child.pid, GIB),
        )
        .output();
    let Ok(out) = out else {
        skip!("unshare not available")
    };
    if !out.status.success() && stderr(&out).contains("unshare") {
        skip!("cannot create a PID namespace here: {}", stderr(&out));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let g = &json(&out)["gpu"];
    let p = &g["processes"][0];
    assert_eq!(p["pid"], child.pid);
    assert_eq!(
        p["visible"], false,
        "host PIDs are not matched inside the namespace"
    );
    assert!(p["name"].is_null());
    assert!(
        g["pid_namespace_note"]
            .as_str()
            .unwrap()
            .contains("own PID namespace"),
        "{g}"
    );
}
