//! The GPU probe's real code path (memwarden-core's gpu.rs: nvml-wrapper dlopens the
//! library named by MEMWARDEN_NVML_LIB, the two-call process listing, the join with
//! /proc) run by the real `memwarden` binary against a stand-in NVML library built
//! from tests/fixtures/nvml_stub.c, since no GPU or driver is present here. The
//! stand-in describes the machine from MEMWARDEN_STUB_* variables and logs every call
//! it answers, so the tests also see how the library was driven. What a real driver
//! reports on real hardware is not exercised here.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;

const GIB: u64 = 1 << 30;

/// Every variable the stand-in reads: cleared before each run so the caller's
/// environment cannot leak into the machine a test describes.
const STUB_VARS: [&str; 6] = [
    "MEMWARDEN_STUB_GPUS",
    "MEMWARDEN_STUB_PROCS",
    "MEMWARDEN_STUB_INIT_ERROR",
    "MEMWARDEN_STUB_MEMINFO_ERROR",
    "MEMWARDEN_STUB_DRIVER",
    "MEMWARDEN_STUB_LOG",
];

/// The stand-in's default driver version and the UUID it gives device `i`.
const STUB_DRIVER: &str = "550.54.15";
fn stub_uuid(i: u32) -> String {
    format!("GPU-5ab0c0de-0000-4000-8000-{i:012}")
}

/// The stand-in library, built for one test in its own directory (removed on drop).
struct Stub {
    dir: PathBuf,
    lib: PathBuf,
}

impl Stub {
    /// Compile tests/fixtures/nvml_stub.c. None when there is no C compiler; a
    /// compiler that rejects the source fails the test.
    fn build() -> Option<Stub> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "memwarden-nvml-stub-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the stub's directory");
        let stub = Stub {
            lib: dir.join("libnvidia-ml-stub.so"),
            dir,
        };
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nvml_stub.c");
        let out = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&stub.lib)
            .arg(&src)
            .output();
        match out {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => None,
            Err(e) => panic!("running cc: {e}"),
            Ok(o) => {
                assert!(
                    o.status.success(),
                    "cc could not build {}:\n{}",
                    src.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
                Some(stub)
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("calls.log")
    }

    /// Run memwarden against the stand-in describing the machine with `vars`
    /// (MEMWARDEN_STUB_*). The call log starts empty for each run.
    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let _ = std::fs::remove_file(self.log_path());
        let mut cmd = memwarden_cmd(&self.lib, args);
        cmd.env("MEMWARDEN_STUB_LOG", self.log_path());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("run memwarden")
    }

    /// The calls the stand-in answered during the last run, one per line.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `memwarden ARGS` with MEMWARDEN_NVML_LIB=lib and no stand-in variables inherited.
fn memwarden_cmd(lib: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("MEMWARDEN_NVML_LIB", lib);
    for k in STUB_VARS {
        cmd.env_remove(k);
    }
    cmd
}

macro_rules! stub_or_skip {
    ($ctx:expr) => {
        match Stub::build() {
            Some(s) => s,
            None => skip!($ctx, "no C compiler (cc) to build the NVML stand-in"),
        }
    };
}

/// `sleep 60`, killed and reaped when dropped.
struct Sleeper(Child);

impl Sleeper {
    fn spawn() -> Sleeper {
        // spawn() returns once exec has succeeded, so /proc already names it "sleep".
        let child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sleep 60");
        Sleeper(child)
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A PID with no process behind it in this namespace.
fn unused_pid() -> u32 {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    (2..max)
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .expect("a free PID")
}

/// True when this process runs below the initial PID namespace (the namespace
/// inode differs from PROC_PID_INIT_INO): memwarden then lists GPU PIDs unnamed.
fn in_nested_pid_namespace() -> bool {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|l| l.to_string_lossy() != "pid:[4026531836]")
        .unwrap_or(false)
}

fn meminfo_total_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

/// The two-GPU machine of the first tests: an H100 with 12.5 of 80 GiB in use at
/// 87% / 41% utilisation and an RTX 4090 with 8 of 24 GiB in use at 3% / 1%.
const H100: &str = "NVIDIA H100 80GB HBM3";
const RTX: &str = "NVIDIA GeForce RTX 4090";
const USED0: u64 = 12 * GIB + GIB / 2;
const USED1: u64 = 8 * GIB;
fn two_gpus() -> String {
    format!(
        "{H100}:{}:{USED0}:87:41,{RTX}:{}:{USED1}:3:1",
        80 * GIB,
        24 * GIB
    )
}

fn two_gpus_with_a_real_holder_and_a_pid_not_visible_here(ctx: &mut Ctx) {
    let stub = stub_or_skip!(ctx);
    let child = Sleeper::spawn();
    let ghost = unused_pid();
    let procs = format!(
        "0:{pid}:{}:compute,0:{ghost}:na:graphics,1:{pid}:{}:compute",
        4 * GIB,
        GIB,
        pid = child.pid()
    );
    let vars = [
        ("MEMWARDEN_STUB_GPUS", two_gpus()),
        ("MEMWARDEN_STUB_PROCS", procs),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let out = stub.run(&["check", "--json", "--top", "0"], &vars);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let g = &v["gpu"];
    assert_eq!(g["available"], true, "{g}");
    assert!(g["unavailable_reason"].is_null());
    assert_eq!(g["driver_version"], STUB_DRIVER);

    let d = g["devices"].as_array().unwrap();
    assert_eq!(d.len(), 2, "{g}");
    assert_eq!(d[0]["index"], 0);
    assert_eq!(d[0]["name"], H100);
    assert_eq!(d[0]["uuid"], stub_uuid(0));
    assert_eq!(d[0]["total_bytes"], 80 * GIB);
    assert_eq!(d[0]["used_bytes"], USED0);
    assert_eq!(d[0]["free_bytes"], 67 * GIB + GIB / 2);
    assert_eq!(d[0]["percent_used"].as_f64(), Some(15.6)); // 15.625 to one decimal
    assert_eq!(d[0]["utilization_gpu_percent"], 87);
    assert_eq!(d[0]["utilization_memory_percent"], 41);
    assert_eq!(d[1]["index"], 1);
    assert_eq!(d[1]["name"], RTX);
    assert_eq!(d[1]["uuid"], stub_uuid(1));
    assert_eq!(d[1]["total_bytes"], 24 * GIB);
    assert_eq!(d[1]["used_bytes"], USED1);
    assert_eq!(d[1]["free_bytes"], 16 * GIB);
    assert_eq!(d[1]["percent_used"].as_f64(), Some(33.3));
    assert_eq!(d[1]["utilization_gpu_percent"], 3);
    assert_eq!(d[1]["utilization_memory_percent"], 1);

    // Per device, compute processes first, then graphics, in the driver's order.
    let p = g["processes"].as_array().unwrap();
    assert_eq!(p.len(), 3, "{g}");
    let expect = [
        (0, child.pid(), "compute", Some(4 * GIB)),
        (0, ghost, "graphics", None),
        (1, child.pid(), "compute", Some(GIB)),
    ];
    for (got, (gpu, pid, kind, bytes)) in p.iter().zip(expect) {
        assert_eq!(got["gpu_index"], gpu, "{got}");
        assert_eq!(got["pid"], pid, "{got}");
        assert_eq!(got["kind"], kind, "{got}");
        // NVML_VALUE_NOT_AVAILABLE reads as "unknown", not as 2^64 - 1 bytes.
        assert_eq!(got["used_bytes"].as_u64(), bytes, "{got}");
    }
    let nested = in_nested_pid_namespace();
    if nested {
        // Driver PIDs are host PIDs here: none is joined with /proc, and the note says why.
        assert_unmatched_in_pid_namespace(g);
    } else {
        for mine in [&p[0], &p[2]] {
            assert_eq!(mine["visible"], true, "{mine}");
            assert_eq!(mine["name"], "sleep", "joined with /proc: {mine}");
            assert_eq!(mine["cmdline"], "sleep 60", "{mine}");
        }
        assert_eq!(p[1]["visible"], false);
        assert!(p[1]["name"].is_null() && p[1]["cmdline"].is_null());
        let note = g["pid_namespace_note"].as_str().expect("note set");
        assert!(note.contains("not visible in /proc here"), "{note}");
    }

    // How the wrapper drove the library: the versioned memory struct, and NVML's
    // two-call protocol for the process lists (ask with count 0 and no buffer, get
    // INSUFFICIENT_SIZE (7) and the count, then fetch into a buffer large enough).
    let log = stub.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("nvmlInit_v2 -> 0")),
        "{log}"
    );
    for dev in 0..2 {
        assert!(
            log.contains(&format!(
                "nvmlDeviceGetMemoryInfo_v2 dev={dev} version=0x02000028 -> 0"
            )),
            "{log}"
        );
    }
    for (f, dev, n) in [
        ("Compute", 0, 1),
        ("Graphics", 0, 1),
        ("Compute", 1, 1),
        ("Graphics", 1, 0),
    ] {
        let prefix = format!("nvmlDeviceGet{f}RunningProcesses_v3 dev={dev} ");
        let calls: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect();
        if n == 0 {
            assert_eq!(calls, ["in=0 buf=null -> 0 out=0"], "{log}");
        } else {
            assert_eq!(calls.len(), 2, "{log}");
            assert_eq!(calls[0], format!("in=0 buf=null -> 7 out={n}"), "{log}");
            assert!(calls[1].contains(" buf=set -> 0 "), "{log}");
            assert!(calls[1].ends_with(&format!(" out={n}")), "{log}");
        }
    }

    // The text report says which process holds which GPU.
    let out = stub.run(&["check", "--top", "0"], &vars);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"GPUS"), "{text}");
    assert!(lines.contains(&"  Driver     550.54.15"), "{text}");
    assert!(
        lines.contains(
            &"  GPU 0  NVIDIA H100 80GB HBM3  12.50 GiB used of 80.00 GiB (15.6%), 67.50 GiB free, util 87%"
        ),
        "{text}"
    );
    assert!(
        lines.contains(
            &"  GPU 1  NVIDIA GeForce RTX 4090  8.00 GiB used of 24.00 GiB (33.3%), 16.00 GiB free, util 3%"
        ),
        "{text}"
    );
    assert!(lines.contains(&"  Processes holding GPU memory:"), "{text}");
    let holder = if nested {
        "(not visible here)"
    } else {
        "sleep  sleep 60"
    };
    let row = |gpu: u32, pid: u32, kind: &str, bytes: &str, who: &str| {
        format!("    GPU {gpu}  PID {pid:<8} {kind:<8} {bytes:>11}  {who}")
    };
    for want in [
        row(0, child.pid(), "compute", "4.00 GiB", holder),
        row(0, ghost, "graphics", "n/a", "(not visible here)"),
        row(1, child.pid(), "compute", "1.00 GiB", holder),
    ] {
        assert!(
            lines.contains(&want.as_str()),
            "missing {want:?} in\n{text}"
        );
    }
}

/// `x`, `x.y` with y 1..9 (the seeds' GB figures never end in ".0").
fn is_gb_figure(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (frac.is_empty()
            || (frac.len() == 1 && frac != "0" && frac.as_bytes()[0].is_ascii_digit()))
}

/// Match `RAM: xGB/yGB (z%)`, the regex `^RAM: (\d+(\.[1-9])?)GB/(\d+(\.[1-9])?)GB \((\d+)%\)$`
/// written out (no regex crate among the dev-dependencies); returns (x, y, z).
fn parse_ram(s: &str) -> Option<(&str, &str, u32)> {
    let rest = s.strip_prefix("RAM: ")?;
    let (used, rest) = rest.split_once("GB/")?;
    let (total, rest) = rest.split_once("GB (")?;
    let pct = rest.strip_suffix("%)")?;
    if !(is_gb_figure(used) && is_gb_figure(total) && pct.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some((used, total, pct.parse().ok()?))
}

fn gb_short(bytes: u64) -> String {
    let s = format!("{:.1}", bytes as f64 / GIB as f64);
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn status_line_shows_each_gpu_and_the_fullest_percent(ctx: &mut Ctx) {
    let stub = stub_or_skip!(ctx);
    let gpus = two_gpus();
    let vars = [("MEMWARDEN_STUB_GPUS", gpus.as_str())];

    let out = stub.run(&["status"], &vars);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text.strip_suffix('\n').expect("one line");
    assert!(!line.contains('\n'), "{text:?}");
    let (ram, vram) = line.split_once(" | ").expect("RAM | VRAM");
    let (_, ram_total, ram_pct) = parse_ram(ram).unwrap_or_else(|| panic!("{line:?}"));
    assert!(ram_pct <= 100, "{line}");
    // Each GPU on its own: 12.5 of 80 GiB (15.6%), 8 of 24 GiB (33.3%). A sum
    // (20.5 of 104 GiB, 20%) would hide the fuller card.
    assert_eq!(
        vram, "VRAM: GPU0 12.5GB/80GB (16%), GPU1 8GB/24GB (33%)",
        "{line}"
    );

    let out = stub.run(&["status", "--json"], &vars);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["vram_used_bytes"], USED0 + USED1);
    assert_eq!(v["vram_total_bytes"], 104 * GIB);
    // The one definition of VRAM percent: the fullest GPU.
    assert_eq!(v["vram_percent"].as_f64(), Some(33.3));
    // The RAM total is the effective limit (host or cgroup), stable between runs.
    assert_eq!(
        ram_total,
        gb_short(v["ram_total_bytes"].as_u64().unwrap()),
        "{line} vs {v}"
    );
    assert!(v["status"]
        .as_str()
        .unwrap()
        .ends_with(" | VRAM: GPU0 12.5GB/80GB (16%), GPU1 8GB/24GB (33%)"));
}

/// A snapshot where the GPU part degraded and everything else still came back.
fn assert_degraded(out: &Output, reason_contains: &[&str]) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let v = json(out);
    let g = &v["gpu"];
    assert_eq!(g["available"], false, "{g}");
    let reason = g["unavailable_reason"].as_str().expect("a reason");
    assert!(reason.starts_with("no NVIDIA GPU visible ("), "{reason}");
    assert!(reason.ends_with(')'), "{reason}");
    for part in reason_contains {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
    assert!(g["driver_version"].is_null(), "{g}");
    assert_eq!(g["devices"].as_array().map(Vec::len), Some(0), "{g}");
    assert_eq!(g["processes"].as_array().map(Vec::len), Some(0), "{g}");
    assert!(g["pid_namespace_note"].is_null(), "{g}");
    // The rest of the snapshot is intact.
    assert_eq!(v["system"]["total_bytes"], meminfo_total_bytes());
    assert!(v["effective"]["total_bytes"].as_u64().unwrap() > 0);
    v
}

fn driver_not_loaded_degrades_to_a_reason(ctx: &mut Ctx) {
    let stub = stub_or_skip!(ctx);
    let lib = stub.lib.to_string_lossy().into_owned();
    // NVML_ERROR_DRIVER_NOT_LOADED (9) and NVML_ERROR_NO_PERMISSION (4) from nvmlInit_v2.
    for (code, words) in [
        ("9", "the NVIDIA kernel driver is not loaded"),
        ("4", "no permission to talk to the NVIDIA driver"),
    ] {
        let vars = [
            ("MEMWARDEN_STUB_INIT_ERROR", code),
            (
                "MEMWARDEN_STUB_GPUS",
                "NVIDIA H100 80GB HBM3:85899345920:12884901888",
            ),
        ];
        let out = stub.run(&["check", "--json", "--top", "0"], &vars);
        let v = assert_degraded(&out, &[words, &format!("(MEMWARDEN_NVML_LIB={lib})")]);
        assert!(v["gpu"]["unavailable_reason"]
            .as_str()
            .unwrap()
            .contains("driver"));
        // Nothing is asked of NVML after a failed init.
        assert_eq!(stub.log().trim_end(), format!("nvmlInit_v2 -> {code}"));

        let out = stub.run(&["check", "--top", "0"], &vars);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let reason = v["gpu"]["unavailable_reason"].as_str().unwrap();
        assert!(text.contains(&format!("GPUS\n  {reason}\n")), "{text}");
        assert!(text.contains("SYSTEM\n  RAM "), "{text}");

        let out = stub.run(&["status"], &vars);
        assert!(out.status.success(), "{}", stderr(&out));
        let line = stdout(&out);
        let (ram, vram) = line.trim_end().split_once(" | ").expect("RAM | VRAM");
        assert!(parse_ram(ram).is_some(), "{line}");
        assert_eq!(vram, "VRAM: n/a", "{line}");
    }
}

fn missing_library_degrades_to_a_reason() {
    let path = std::env::temp_dir().join(format!(
        "memwarden-no-such-dir-{}/libnvidia-ml.so.1",
        std::process::id()
    ));
    assert!(!path.exists());
    let out = memwarden_cmd(&path, &["check", "--json", "--top", "0"])
        .output()
        .expect("run memwarden");
    assert_degraded(
        &out,
        &[
            "NVML library not found",
            "driver",
            &format!("(MEMWARDEN_NVML_LIB={})", path.display()),
        ],
    );
    let out = memwarden_cmd(&path, &["status"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim_end().ends_with(" | VRAM: n/a"));
}

fn zero_devices_degrades_to_a_reason(ctx: &mut Ctx) {
    let stub = stub_or_skip!(ctx);
    for gpus in [None, Some("")] {
        let vars: Vec<(&str, &str)> = gpus
            .map(|g| ("MEMWARDEN_STUB_GPUS", g))
            .into_iter()
            .collect();
        let out = stub.run(&["check", "--json", "--top", "0"], &vars);
        let v = assert_degraded(&out, &[]);
        assert_eq!(
            v["gpu"]["unavailable_reason"],
            "no NVIDIA GPU visible (the driver reports 0 devices)"
        );
        let log = stub.log();
        assert!(log.contains("nvmlDeviceGetCount_v2 -> 0 count=0"), "{log}");
        assert!(!log.contains("nvmlDeviceGetHandleByIndex_v2"), "{log}");

        let out = stub.run(&["status", "--json"], &vars);
        assert!(out.status.success(), "{}", stderr(&out));
        let s = json(&out);
        assert!(s["vram_total_bytes"].is_null(), "{s}");
        assert!(
            s["status"].as_str().unwrap().ends_with(" | VRAM: n/a"),
            "{s}"
        );
    }
}

fn own_pid_namespace_is_detected_and_said(ctx: &mut Ctx) {
    let stub = stub_or_skip!(ctx);
    if !is_root() {
        skip!(ctx, "unshare --pid needs root");
    }
    // A real PID namespace, as in a container: the driver reports host PIDs.
    let child = Sleeper::spawn();
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(bin())
        .args(["check", "--json", "--top", "0"])
        .env("NO_COLOR", "1")
        .env("MEMWARDEN_NVML_LIB", &stub.lib)
        .env("MEMWARDEN_STUB_GPUS", format!("A:{}:{}", 8 * GIB, GIB))
        .env(
            "MEMWARDEN_STUB_PROCS",
            format!("0:{}:{}:compute", child.pid(), GIB),
        )
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => skip!(ctx, "unshare not available: {e}"),
    };
    if !out.status.success() && stderr(&out).contains("unshare") {
        skip!(ctx, "cannot create a PID namespace here: {}", stderr(&out));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let g = &json(&out)["gpu"];
    let p = g["processes"].as_array().unwrap();
    assert_eq!(p.len(), 1, "{g}");
    assert_eq!(p[0]["pid"], child.pid());
    assert_eq!(p[0]["used_bytes"], GIB);
    assert_unmatched_in_pid_namespace(g);
}

/// In a nested PID namespace the driver's PIDs are host PIDs: none is joined with
/// /proc, and the note says why.
fn assert_unmatched_in_pid_namespace(g: &serde_json::Value) {
    let p = g["processes"].as_array().unwrap();
    assert!(
        p.iter()
            .all(|x| x["visible"] == false && x["name"].is_null()),
        "host PIDs are not matched inside the namespace: {g}"
    );
    assert!(
        g["pid_namespace_note"]
            .as_str()
            .unwrap()
            .contains("own PID namespace"),
        "{g}"
    );
}

fn a_lost_gpu_is_reported_not_dropped(ctx: &mut Ctx) {
    let stub = stub_or_skip!(ctx);
    // GPU 1 answers nvmlDeviceGetMemoryInfo_v2 with NVML_ERROR_GPU_IS_LOST (15).
    let gpus = two_gpus();
    let out = stub.run(
        &["check", "--json", "--top", "0"],
        &[
            ("MEMWARDEN_STUB_GPUS", gpus.as_str()),
            ("MEMWARDEN_STUB_MEMINFO_ERROR", "1:15"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        v["gpu"]["devices"].as_array().unwrap().len(),
        1,
        "the healthy GPU is shown"
    );
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("GPU 1 memory:")),
        "the lost GPU is named in the warnings: {warnings:?}"
    );
    let text = stdout(&stub.run(
        &["check", "--top", "0"],
        &[
            ("MEMWARDEN_STUB_GPUS", gpus.as_str()),
            ("MEMWARDEN_STUB_MEMINFO_ERROR", "1:15"),
        ],
    ));
    assert!(
        text.contains("WARNINGS") && text.contains("GPU 1 memory:"),
        "{text}"
    );
}

fn a_library_that_cannot_load_says_why() {
    // A file that exists but is no shared library: not "no driver installed".
    let bogus = std::env::temp_dir().join(format!("memwarden-not-a-lib-{}.so", std::process::id()));
    std::fs::write(&bogus, b"this is not an ELF file").unwrap();
    let out = memwarden_cmd(&bogus, &["check", "--json", "--top", "0"])
        .output()
        .unwrap();
    std::fs::remove_file(&bogus).unwrap();
    let v = assert_degraded(&out, &["could not be loaded"]);
    assert!(!v["gpu"]["unavailable_reason"]
        .as_str()
        .unwrap()
        .contains("not found"));
}

/// One identity per GPU: NVML's index, its UUID and the CUDA number torch gives it
/// in a process started with this CUDA_VISIBLE_DEVICES (by index, UUID or prefix).
fn cuda_visible_devices_names_each_gpus_cuda_number(ctx: &mut Ctx) {
    let stub = stub_or_skip!(ctx);
    let gpus = two_gpus();
    let ordinals = |visible: Option<&str>| -> Vec<Option<u64>> {
        let mut vars = vec![("MEMWARDEN_STUB_GPUS", gpus.as_str())];
        if let Some(v) = visible {
            vars.push(("CUDA_VISIBLE_DEVICES", v));
        }
        let out = stub.run(&["check", "--json", "--top", "0"], &vars);
        assert!(out.status.success(), "{}", stderr(&out));
        let v = json(&out);
        v["gpu"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["cuda_ordinal"].as_u64())
            .collect()
    };
    assert_eq!(ordinals(None), [Some(0), Some(1)]);
    assert_eq!(ordinals(Some("1")), [None, Some(0)]);
    assert_eq!(ordinals(Some("1,0")), [Some(1), Some(0)]);
    let uuid1 = stub_uuid(1);
    assert_eq!(ordinals(Some(&uuid1)), [None, Some(0)]);
    assert_eq!(
        ordinals(Some(&uuid1[..12])),
        [None, None],
        "a prefix both GPUs share names neither"
    );
    assert_eq!(ordinals(Some("NoDevFiles")), [None, None]);
}

test_main!(
    cuda_visible_devices_names_each_gpus_cuda_number,
    two_gpus_with_a_real_holder_and_a_pid_not_visible_here,
    status_line_shows_each_gpu_and_the_fullest_percent,
    driver_not_loaded_degrades_to_a_reason,
    missing_library_degrades_to_a_reason,
    zero_devices_degrades_to_a_reason,
    own_pid_namespace_is_detected_and_said,
    a_lost_gpu_is_reported_not_dropped,
    a_library_that_cannot_load_says_why,
);
