//! This process's capabilities and an executable's file capabilities, and what
//! would grant CAP_SYS_NICE to the running program (for refusals that say exactly
//! which command to run).

use std::path::Path;

use crate::error::Error;

use super::fs::read_text;

/// Effective capabilities of this process (CapEff of /proc/self/status).
pub fn own_cap_eff() -> u64 {
    read_text("/proc/self/status")
        .ok()
        .and_then(|t| crate::parse::proc_pid::parse_status(&t).ok())
        .map(|s| s.cap_eff)
        .unwrap_or(0)
}

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_NICE: u32 = 23;

pub fn has_cap(cap: u32) -> bool {
    own_cap_eff() & (1u64 << cap) != 0
}

/// One field of /proc/self/status (`key` without the colon), trimmed.
pub fn own_status_field(key: &str) -> Option<String> {
    let text = read_text("/proc/self/status").ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_owned())
    })
}

/// Capability bounding set of this process (CapBnd); all bits when unreadable, so
/// that a missing line never invents a restriction.
pub fn own_cap_bounding() -> u64 {
    own_status_field("CapBnd")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(u64::MAX)
}

/// Is no_new_privs set on this process (which makes exec ignore file capabilities)?
pub fn own_no_new_privs() -> bool {
    own_status_field("NoNewPrivs").as_deref() == Some("1")
}

/// File capabilities of an executable: the `security.capability` xattr that
/// `setcap` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    /// Capabilities the file grants to the permitted set on exec.
    pub permitted: u64,
    /// The `e` of `+ep`: permitted capabilities also become effective on exec.
    pub effective: bool,
}

/// Decode a `security.capability` value (struct vfs_cap_data / vfs_ns_cap_data,
/// include/uapi/linux/capability.h): le32 magic_etc, then {le32 permitted, le32
/// inheritable} for the low and (revisions 2 and 3) the high 32 capabilities.
pub fn parse_file_caps(raw: &[u8]) -> Option<FileCaps> {
    const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
    const VFS_CAP_REVISION_1: u32 = 0x0100_0000;
    const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;
    let le32 = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(raw.get(at..at + 4)?.try_into().ok()?))
    };
    let magic = le32(0)?;
    let low = le32(4)?;
    let high = match magic & VFS_CAP_REVISION_MASK {
        VFS_CAP_REVISION_1 => 0,
        _ => le32(12)?,
    };
    Some(FileCaps {
        permitted: (u64::from(high) << 32) | u64::from(low),
        effective: magic & VFS_CAP_FLAGS_EFFECTIVE != 0,
    })
}

/// The file capabilities of `path`; None when it has none (or they cannot be read).
pub fn file_caps(path: &Path) -> Option<FileCaps> {
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(path, "security.capability", &mut buf[..]).ok()?;
    parse_file_caps(&buf[..n])
}

/// Facts about this process that decide what grants it CAP_SYS_NICE.
pub(crate) struct CapFacts<'a> {
    /// The running executable (`/proc/self/exe`).
    exe: Option<&'a Path>,
    /// Its file capabilities (`security.capability`), if any.
    file_caps: Option<FileCaps>,
    /// CAP_SYS_NICE is in the bounding set (file capabilities can grant it).
    bounding_has_nice: bool,
    /// no_new_privs is set (exec ignores file capabilities).
    no_new_privs: bool,
}

/// Is `exe` a Python interpreter (the CLI running inside the wheel, `python -m
/// memwarden`, or the pip-installed `memwarden` script)?
fn is_python(exe: &Path) -> bool {
    let name = exe
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.starts_with("python") || name.starts_with("pypy")
}

/// What would give *this* program CAP_SYS_NICE, for the PermissionDenied message:
/// the exact `setcap` command for the running binary, or why the capability it
/// already carries is not effective.
fn cap_sys_nice_needs(f: &CapFacts<'_>) -> String {
    const DOCKER: &str = "in Docker: `docker run --cap-add SYS_NICE`";
    const PTRACE: &str = "run it as the target's user (the kernel also wants ptrace access: \
                          the same user, or CAP_SYS_PTRACE)";
    if let Some(exe) = f.exe.filter(|e| is_python(e)) {
        return format!(
            "CAP_SYS_NICE: run as root, or use a native memwarden binary as the helper; this \
             is the Python interpreter {}, and a capability on it would go to every Python \
             program: build the binary with `cargo install --path crates/memwarden-cli` in a \
             memwarden checkout (or take the release binary), grant it once with `sudo setcap \
             cap_sys_nice+ep /path/to/memwarden`, point the ComfyUI nodes at it with \
             MEMWARDEN_HELPER=/path/to/memwarden and {PTRACE}",
            exe.display()
        );
    }
    if !f.bounding_has_nice {
        return format!(
            "CAP_SYS_NICE, which this process cannot gain: it is not in its capability bounding \
             set, so neither root nor `setcap` can grant it here ({DOCKER})"
        );
    }
    match (f.exe, f.file_caps) {
        (Some(exe), Some(c)) if c.permitted & (1 << CAP_SYS_NICE) != 0 && !c.effective => format!(
            "CAP_SYS_NICE: {} holds it only as permitted, not effective; grant it with `sudo \
             setcap cap_sys_nice+ep {}`",
            exe.display(),
            exe.display()
        ),
        (Some(exe), Some(c)) if c.permitted & (1 << CAP_SYS_NICE) != 0 => format!(
            "CAP_SYS_NICE: {} carries cap_sys_nice+ep, but the capability is not effective: {}",
            exe.display(),
            if f.no_new_privs {
                "no_new_privs is set on this process (systemd NoNewPrivileges=, `docker run \
                 --security-opt no-new-privileges`, a sandbox), which makes exec ignore file \
                 capabilities"
            } else {
                "its filesystem may be mounted nosuid, or it was started from another user \
                 namespace"
            }
        ),
        (Some(exe), _) => format!(
            "CAP_SYS_NICE: run as root, or grant it to this binary once with `sudo setcap \
             cap_sys_nice+ep {}` and {PTRACE}; {DOCKER}",
            exe.display()
        ),
        (None, _) => format!(
            "CAP_SYS_NICE: run as root, or `sudo setcap cap_sys_nice+ep` on the memwarden \
             binary and {PTRACE}; {DOCKER}"
        ),
    }
}

pub fn cap_sys_nice_refusal(pid: u32) -> Error {
    let exe = std::env::current_exe().ok();
    let facts = CapFacts {
        exe: exe.as_deref(),
        file_caps: exe.as_deref().and_then(file_caps),
        bounding_has_nice: own_cap_bounding() & (1 << CAP_SYS_NICE) != 0,
        no_new_privs: own_no_new_privs(),
    };
    Error::PermissionDenied {
        what: format!("paging out the memory of PID {pid}"),
        needs: cap_sys_nice_needs(&facts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_caps_of_setcap_cap_sys_nice_ep() {
        // `setcap cap_sys_nice+ep` on Linux 6.x (revision 2, as getfattr -e hex shows).
        let raw = [
            0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let c = parse_file_caps(&raw).unwrap();
        assert_eq!(c.permitted, 1 << CAP_SYS_NICE);
        assert!(c.effective);
        // `+p` only: no effective flag.
        let mut p = raw;
        p[0] = 0;
        assert!(!parse_file_caps(&p).unwrap().effective);
        assert_eq!(parse_file_caps(&raw[..3]), None);
    }

    fn facts(exe: Option<&Path>) -> CapFacts<'_> {
        CapFacts {
            exe,
            file_caps: None,
            bounding_has_nice: true,
            no_new_privs: false,
        }
    }

    #[test]
    fn cap_sys_nice_message_names_the_running_binary() {
        let exe = Path::new("/usr/local/bin/memwarden");
        let m = cap_sys_nice_needs(&facts(Some(exe)));
        assert!(
            m.contains("`sudo setcap cap_sys_nice+ep /usr/local/bin/memwarden`"),
            "{m}"
        );
        assert!(m.contains("ptrace"), "{m}");
        let m = cap_sys_nice_needs(&facts(None));
        assert!(
            m.contains("setcap cap_sys_nice+ep` on the memwarden binary"),
            "{m}"
        );
    }

    #[test]
    fn cap_sys_nice_message_never_suggests_setcap_on_python() {
        for py in [
            "/usr/bin/python3.12",
            "/home/u/ComfyUI/venv/bin/python",
            "/opt/pypy/bin/pypy3",
        ] {
            let m = cap_sys_nice_needs(&facts(Some(Path::new(py))));
            assert!(!m.contains(&format!("cap_sys_nice+ep {py}")), "{m}");
            assert!(
                m.contains("cargo install --path crates/memwarden-cli"),
                "{m}"
            );
            assert!(
                m.contains("setcap cap_sys_nice+ep /path/to/memwarden"),
                "{m}"
            );
        }
    }

    #[test]
    fn cap_sys_nice_message_says_why_a_file_capability_is_not_effective() {
        let exe = Path::new("/opt/helper/memwarden");
        let ep = FileCaps {
            permitted: 1 << CAP_SYS_NICE,
            effective: true,
        };
        let mut f = facts(Some(exe));
        f.file_caps = Some(ep);
        f.no_new_privs = true;
        assert!(cap_sys_nice_needs(&f).contains("no_new_privs"));
        f.no_new_privs = false;
        assert!(cap_sys_nice_needs(&f).contains("nosuid"));
        f.file_caps = Some(FileCaps {
            effective: false,
            ..ep
        });
        assert!(cap_sys_nice_needs(&f).contains("only as permitted"));
        f.bounding_has_nice = false;
        assert!(cap_sys_nice_needs(&f).contains("bounding set"));
    }
}
