//! NVIDIA GPUs through NVML, loaded at run time (never linked): a machine without
//! the driver still runs every other probe, and the snapshot says why no GPU shows.

use std::ffi::OsStr;
use std::sync::OnceLock;

use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use crate::model::{GpuDevice, GpuInfo, GpuProcess, GpuProcessKind};
use crate::parse::meminfo::percent;

/// Environment variable naming the NVML library to load (for unusual driver
/// installs; the tests point it at a stand-in library).
pub const NVML_LIB_ENV: &str = "MEMWARDEN_NVML_LIB";

/// Library names tried in order: the versioned soname ships with every driver, the
/// bare name only with development packages.
#[cfg(not(windows))]
const LIB_NAMES: &[&str] = &["libnvidia-ml.so.1", "libnvidia-ml.so"];
/// Windows: the driver installs nvml.dll in System32.
#[cfg(windows)]
const LIB_NAMES: &[&str] = &["nvml.dll"];

// NVML initialisation costs tens of milliseconds with a real driver: do it once per
// process so per-node snapshots stay cheap.
static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();

fn describe(e: &NvmlError) -> String {
    match e {
        // Only a missing file means "no driver"; a library that exists but cannot
        // load (wrong architecture, broken install) keeps the loader's own words.
        NvmlError::LibloadingError(e)
            if e.to_string().contains("cannot open shared object file") =>
        {
            "NVML library not found: no NVIDIA driver installed, or it is not mounted into this \
             container (use --gpus / the NVIDIA container toolkit)"
                .into()
        }
        NvmlError::LibloadingError(e) => format!("NVML library could not be loaded: {e}"),
        NvmlError::DriverNotLoaded => "the NVIDIA kernel driver is not loaded".into(),
        NvmlError::NoPermission => "no permission to talk to the NVIDIA driver".into(),
        NvmlError::LibraryNotFound => "NVML library not found".into(),
        other => other.to_string(),
    }
}

fn init() -> Result<Nvml, String> {
    // An empty value means unset (`MEMWARDEN_NVML_LIB= memwarden check`): loading
    // "" would make dlopen return the program itself.
    if let Some(path) = std::env::var_os(NVML_LIB_ENV).filter(|p| !p.is_empty()) {
        return Nvml::builder().lib_path(&path).init().map_err(|e| {
            format!(
                "{} ({NVML_LIB_ENV}={})",
                describe(&e),
                path.to_string_lossy()
            )
        });
    }
    let mut last = String::new();
    for name in LIB_NAMES.iter().copied() {
        match Nvml::builder().lib_path(OsStr::new(name)).init() {
            Ok(n) => return Ok(n),
            Err(e) => last = describe(&e),
        }
    }
    Err(last)
}

fn unavailable(reason: String) -> GpuInfo {
    GpuInfo {
        available: false,
        unavailable_reason: Some(format!("no NVIDIA GPU visible ({reason})")),
        ..Default::default()
    }
}

/// Look up a PID in this namespace's /proc: (name, cmdline).
pub type ProcessLookup<'a> = &'a dyn Fn(u32) -> Option<(String, String)>;

/// Query every GPU and the processes holding its memory. `pid_ns_nested` says that
/// this process runs in its own PID namespace, where driver PIDs (host PIDs) cannot
/// be matched to /proc. A device or list that fails while others answer comes back
/// as a warning (the second value), so a lost GPU is never silently missing.
pub fn read_gpus(lookup: ProcessLookup<'_>, pid_ns_nested: bool) -> (GpuInfo, Vec<String>) {
    let nvml = match NVML.get_or_init(init) {
        Ok(n) => n,
        Err(reason) => return (unavailable(reason.clone()), Vec::new()),
    };
    let count = match nvml.device_count() {
        Ok(0) => {
            return (
                unavailable("the driver reports 0 devices".into()),
                Vec::new(),
            )
        }
        Ok(c) => c,
        Err(e) => return (unavailable(describe(&e)), Vec::new()),
    };
    let mut info = GpuInfo {
        available: true,
        driver_version: nvml.sys_driver_version().ok(),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    let who = |pid| if pid_ns_nested { None } else { lookup(pid) };
    for index in 0..count {
        read_device(nvml, index, &who, &mut info, &mut warnings);
    }
    if info.devices.is_empty() {
        return (unavailable(warnings.join("; ")), Vec::new());
    }
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    let ids: Vec<(u32, &str)> = info
        .devices
        .iter()
        .map(|d| (d.index, d.uuid.as_str()))
        .collect();
    let ordinals = cuda_ordinals(visible.as_deref(), &ids);
    for (d, o) in info.devices.iter_mut().zip(ordinals) {
        d.cuda_ordinal = o;
    }
    info.pid_namespace_note = pid_note(&info, pid_ns_nested);
    (info, warnings)
}

/// One device and the processes holding its memory, into `info`; what fails
/// becomes a warning.
fn read_device(
    nvml: &Nvml,
    index: u32,
    lookup: ProcessLookup<'_>,
    info: &mut GpuInfo,
    warnings: &mut Vec<String>,
) {
    let dev = match nvml.device_by_index(index) {
        Ok(d) => d,
        Err(e) => return warnings.push(format!("GPU {index}: {}", describe(&e))),
    };
    let mem = match dev.memory_info() {
        Ok(m) => m,
        Err(e) => return warnings.push(format!("GPU {index} memory: {}", describe(&e))),
    };
    let util = dev.utilization_rates().ok();
    info.devices.push(GpuDevice {
        index,
        name: dev.name().unwrap_or_else(|_| "unknown".into()),
        uuid: dev.uuid().unwrap_or_default(),
        total_bytes: mem.total,
        used_bytes: mem.used,
        free_bytes: mem.free,
        percent_used: percent(mem.used, mem.total),
        utilization_gpu_percent: util.as_ref().map(|u| u.gpu),
        utilization_memory_percent: util.as_ref().map(|u| u.memory),
        cuda_ordinal: None,
    });
    for (kind, which, list) in [
        (
            GpuProcessKind::Compute,
            "compute",
            dev.running_compute_processes(),
        ),
        (
            GpuProcessKind::Graphics,
            "graphics",
            dev.running_graphics_processes(),
        ),
    ] {
        let list = match list {
            Ok(l) => l,
            Err(e) => {
                warnings.push(format!("GPU {index} {which} processes: {}", describe(&e)));
                continue;
            }
        };
        for p in list {
            let found = lookup(p.pid);
            info.processes.push(GpuProcess {
                gpu_index: index,
                pid: p.pid,
                kind,
                used_bytes: match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b),
                    UsedGpuMemory::Unavailable => None,
                },
                visible: found.is_some(),
                name: found.as_ref().map(|f| f.0.clone()),
                cmdline: found.map(|f| f.1),
            });
        }
    }
}

/// The CUDA device number of each GPU (`devices`: NVML index and UUID, in NVML's
/// order) under `visible`, the value of CUDA_VISIBLE_DEVICES: unset, every GPU in
/// order; else the GPUs it names, in its order: an index, a full UUID or a unique
/// prefix of one (`GPU-8932`). As CUDA does, the list ends at the first entry that
/// names no GPU, names one twice, or is ambiguous (`NoDevFiles`, `-1`, a MIG
/// instance: no full GPU).
pub fn cuda_ordinals(visible: Option<&str>, devices: &[(u32, &str)]) -> Vec<Option<u32>> {
    let Some(v) = visible else {
        return (0..devices.len() as u32).map(Some).collect();
    };
    let mut out = vec![None; devices.len()];
    let mut next = 0u32;
    for entry in v.split(',').map(str::trim) {
        let found: Vec<usize> = if let Ok(i) = entry.parse::<u32>() {
            devices
                .iter()
                .position(|(index, _)| *index == i)
                .into_iter()
                .collect()
        } else if entry.starts_with("GPU-") && entry.len() > 4 {
            devices
                .iter()
                .enumerate()
                .filter(|(_, (_, uuid))| uuid.starts_with(entry))
                .map(|(k, _)| k)
                .collect()
        } else {
            Vec::new()
        };
        match found[..] {
            [k] if out[k].is_none() => {
                out[k] = Some(next);
                next += 1;
            }
            _ => break,
        }
    }
    out
}

/// Why GPU processes may lack names.
fn pid_note(info: &GpuInfo, pid_ns_nested: bool) -> Option<String> {
    if pid_ns_nested && !info.processes.is_empty() {
        Some(
            "this process runs in its own PID namespace (a container): the driver reports host PIDs, \
             which do not match the PIDs visible here, so GPU processes are listed without names. \
             Run `memwarden check` on the host (or with --pid=host) to see them."
                .into(),
        )
    } else if info.processes.iter().any(|p| !p.visible) {
        Some(
            "some PIDs reported by the driver are not visible in /proc here (another PID namespace \
             or already exited)"
                .into(),
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICES: [(u32, &str); 3] = [
        (0, "GPU-5ab0c0de-0000-4000-8000-000000000000"),
        (1, "GPU-77770000-0000-4000-8000-000000000001"),
        (2, "GPU-77771111-0000-4000-8000-000000000002"),
    ];

    #[test]
    fn cuda_numbers_follow_cuda_visible_devices() {
        let o = |v: Option<&str>| cuda_ordinals(v, &DEVICES);
        assert_eq!(o(None), [Some(0), Some(1), Some(2)]);
        assert_eq!(o(Some("2,0")), [Some(1), None, Some(0)]);
        assert_eq!(o(Some(" 1 ")), [None, Some(0), None]);
        // By UUID and by a prefix that names one GPU only.
        assert_eq!(
            o(Some("GPU-77771111-0000-4000-8000-000000000002,GPU-5ab")),
            [Some(1), None, Some(0)]
        );
        // An ambiguous prefix, an index with no GPU, a repeat, NoDevFiles: the
        // list ends there.
        assert_eq!(o(Some("0,GPU-7777,1")), [Some(0), None, None]);
        assert_eq!(o(Some("1,7,0")), [None, Some(0), None]);
        assert_eq!(o(Some("1,1,0")), [None, Some(0), None]);
        assert_eq!(o(Some("NoDevFiles")), [None, None, None]);
        assert_eq!(o(Some("")), [None, None, None]);
        assert_eq!(o(Some("-1")), [None, None, None]);
        assert_eq!(
            o(Some("MIG-0f5e2c4a-aaaa-bbbb-cccc-000000000000")),
            [None, None, None]
        );
    }
}
