use std::path::Path;

use crate::model::Psi;
use crate::parse::psi::parse_psi;

use crate::sys::linux::fs::read_text;

/// System PSI and, when given, the cgroup's memory.pressure. Each side that cannot
/// be read comes back as None with the reason in `warnings`.
pub fn read_pressure(
    cgroup_pressure: Option<&Path>,
    warnings: &mut Vec<String>,
) -> (Option<Psi>, Option<Psi>) {
    let cgroup = cgroup_pressure.and_then(|p| {
        let name = p.display().to_string();
        match read_text(p) {
            Ok(t) => parse_psi(&t, &name)
                .map_err(|e| warnings.push(e.to_string()))
                .ok(),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(e) => {
                warnings.push(format!("cannot read {name}: {e}"));
                None
            }
        }
    });
    let system = match read_text("/proc/pressure/memory") {
        Ok(t) => match parse_psi(&t, "/proc/pressure/memory") {
            Ok(p) => Some(p),
            Err(e) => {
                warnings.push(e.to_string());
                None
            }
        },
        Err(e) => {
            let why = match (e.raw_os_error(), &cgroup) {
                // The kernel has PSI (the cgroup's memory.pressure reads): the system
                // file is hidden, as some container runtimes and LXCFS do.
                (_, Some(_)) => format!(
                    "/proc/pressure/memory is not readable here ({e}), though the kernel has \
                     PSI: the cgroup's memory.pressure is used"
                ),
                (Some(libc::ENOENT), None) => {
                    "kernel without PSI (needs Linux >= 4.20 built with CONFIG_PSI), or \
                     /proc/pressure hidden"
                        .into()
                }
                (Some(libc::EOPNOTSUPP), None) => "PSI is disabled (boot with psi=1)".into(),
                _ => e.to_string(),
            };
            warnings.push(format!("system memory pressure unavailable: {why}"));
            None
        }
    };
    (system, cgroup)
}
