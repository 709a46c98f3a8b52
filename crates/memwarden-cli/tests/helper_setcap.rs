//! The external helper for an unprivileged ComfyUI: a copy of the memwarden binary
//! granted `cap_sys_nice+ep` with setcap, run as the same user as ComfyUI, pages
//! ComfyUI out; without the capability it refuses (exit 4) naming the exact
//! `setcap` command for itself. Real file capabilities, real uid 65534 processes.

// Linux only (its fixtures are /proc, swap, cgroups, seccomp): on other targets
// this binary is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use support::*;

/// A copy of the memwarden binary in a fresh directory that uid 65534 can reach,
/// removed on drop.
struct HelperCopy {
    dir: PathBuf,
    exe: PathBuf,
}

impl HelperCopy {
    fn new() -> Result<Self, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "memwarden-helper-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = dir.join("memwarden");
        std::fs::copy(bin(), &exe).map_err(|e| format!("copy the binary: {e}"))?;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        // /proc/self/exe names the canonical path.
        let exe = std::fs::canonicalize(&exe).unwrap();
        Ok(Self { dir, exe })
    }

    /// `setcap CAPS EXE`; Err(reason) when this machine cannot (no setcap, a
    /// filesystem without security.* xattrs, a nosuid mount).
    fn setcap(&self, caps: &str) -> Result<(), String> {
        let setcap = on_path("setcap").ok_or(
            "setcap is not installed (Debian/Ubuntu: the libcap2-bin package); this test \
             installs nothing itself",
        )?;
        let out = Command::new(setcap)
            .args([caps, self.exe.to_str().unwrap()])
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!(
                "setcap {caps} on {} failed (filesystem without security xattrs?): {}",
                self.exe.display(),
                stderr(&out)
            ));
        }
        // SAFETY: statvfs is plain data; all zeroes is a valid value.
        let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
        let path = std::ffi::CString::new(self.dir.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string and an out-struct of the right type.
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut vfs) }, 0);
        if vfs.f_flag & libc::ST_NOSUID != 0 {
            return Err(format!(
                "{} is on a nosuid mount, where file capabilities do not apply",
                self.dir.display()
            ));
        }
        Ok(())
    }

    /// Run the copy as uid 65534 (bounding set kept, so a file capability can
    /// take effect), with `extra` setpriv options applied to the process that runs
    /// it.
    fn run_as_nobody(&self, extra: &[&str], args: &[&str]) -> Output {
        Self::nobody_running(extra, &self.exe, args)
    }

    /// Like [`run_as_nobody`], but `user_setpriv` is applied by a second setpriv that
    /// already runs as uid 65534 with no capability, as a service manager or a
    /// container runtime does it: root's setpriv keeps its own permitted set until
    /// the exec, which no_new_privs would then let the copy keep.
    fn run_as_nobody_with(&self, user_setpriv: &[&str], args: &[&str]) -> Output {
        let setpriv = on_path("setpriv").unwrap();
        let mut inner: Vec<&str> = user_setpriv.to_vec();
        inner.push(self.exe.to_str().unwrap());
        inner.extend_from_slice(args);
        Self::nobody_running(&[], &setpriv, &inner)
    }

    fn nobody_running(extra: &[&str], program: &Path, args: &[&str]) -> Output {
        let mut c = Command::new(on_path("setpriv").unwrap());
        c.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
            "--inh-caps=-all".into(),
        ])
        .args(extra)
        .arg(program)
        .args(args)
        .env("NO_COLOR", "1");
        c.output().unwrap()
    }
}

impl Drop for HelperCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// alloc_child as uid 65534: the "ComfyUI" of an unprivileged user.
fn nobody_comfyui(mib: u64) -> Result<AllocChild, String> {
    let mut cmd = as_nobody(&alloc_child_path(), false)?;
    cmd.arg(mib.to_string());
    let child = AllocChild::spawn_with(&mut cmd);
    assert_unprivileged(child.pid);
    Ok(child)
}

/// A copy of the binary to setcap, where this test can do so and run processes as
/// uid 65534; Err says why not.
fn privileged_helper_copy() -> Result<HelperCopy, String> {
    if !is_root() {
        return Err("needs root for setcap and to run processes as uid 65534".into());
    }
    if on_path("setpriv").is_none() {
        return Err("setpriv (util-linux) is not installed".into());
    }
    HelperCopy::new()
}

fn error_of(out: &Output) -> String {
    json(out)["error"].as_str().unwrap().to_owned()
}

fn setcap_helper_trims_an_unprivileged_comfyui(ctx: &mut Ctx) {
    let helper = match privileged_helper_copy() {
        Ok(h) => h,
        Err(e) => skip!(ctx, "{e}"),
    };
    let comfy = match nobody_comfyui(64) {
        Ok(c) => c,
        Err(e) => skip!(ctx, "{e}"),
    };
    let pid = comfy.pid.to_string();
    let trim = ["trim", "--pid", &pid, "--cold", "--json"];
    let setcap_cmd = format!("sudo setcap cap_sys_nice+ep {}", helper.exe.display());

    // Without the capability: exit 4, naming the exact command for this copy.
    let out = helper.run_as_nobody(&[], &trim);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let msg = error_of(&out);
    assert!(msg.contains(&format!("`{setcap_cmd}`")), "{msg}");

    if let Err(e) = helper.setcap("cap_sys_nice+ep") {
        skip!(ctx, "{e}");
    }

    // With it: the same user's process is advised.
    let out = helper.run_as_nobody(&[], &trim);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["pid"], comfy.pid);
    assert_eq!(r["advice"], "cold");
    assert_eq!(
        r["steps"][1]["detail"],
        "CAP_SYS_NICE effective, ptrace access to the target"
    );
    assert!(r["ranges_advised"].as_u64().unwrap() > 0, "{r}");

    // The capability is not effective where exec ignores file capabilities, and
    // the refusal says why instead of repeating the setcap command.
    let out = helper.run_as_nobody_with(&["--no-new-privs"], &trim);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let msg = error_of(&out);
    assert!(
        msg.contains("carries cap_sys_nice+ep") && msg.contains("no_new_privs"),
        "{msg}"
    );
    // Where the bounding set lacks CAP_SYS_NICE (Docker without `--cap-add
    // SYS_NICE`) the kernel refuses to even execute a `+ep` binary whose capability
    // it cannot grant: EPERM from execve, before memwarden runs.
    let out = helper.run_as_nobody(&["--bounding-set=-sys_nice"], &trim);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Operation not permitted") && out.stdout.is_empty(),
        "{}",
        stderr(&out)
    );

    // `+p` without `e`: permitted but never effective; the message gives `+ep`.
    helper.setcap("cap_sys_nice+p").unwrap();
    let out = helper.run_as_nobody(&[], &trim);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let msg = error_of(&out);
    assert!(
        msg.contains("only as permitted") && msg.contains(&setcap_cmd),
        "{msg}"
    );
}

/// The capability alone does not reach another user's process: process_madvise
/// also wants ptrace access (the same user, or CAP_SYS_PTRACE). The helper must run
/// as ComfyUI's user; the refusal says so and changes nothing.
fn setcap_helper_cannot_reach_another_users_process(ctx: &mut Ctx) {
    let helper = match privileged_helper_copy() {
        Ok(h) => h,
        Err(e) => skip!(ctx, "{e}"),
    };
    if let Err(e) = helper.setcap("cap_sys_nice+ep") {
        skip!(ctx, "{e}");
    }
    let root_child = AllocChild::spawn(32); // root's process
    let before = root_child.status();
    let out = helper.run_as_nobody(
        &[],
        &[
            "trim",
            "--pid",
            &root_child.pid.to_string(),
            "--cold",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let msg = error_of(&out);
    assert!(
        msg.contains(&format!("reading /proc/{}/maps", root_child.pid))
            && msg.contains("same user"),
        "{msg}"
    );
    let after = root_child.status();
    assert!(before.0.abs_diff(after.0) < 2 * MIB && before.2 == after.2);
}

/// The helper's path in messages is the running executable's, whatever it is
/// called: here a copy under another name in another directory.
fn message_names_the_running_copy_not_the_build_output(ctx: &mut Ctx) {
    let helper = match HelperCopy::new() {
        Ok(h) => h,
        Err(e) => skip!(ctx, "{e}"),
    };
    let renamed = helper.dir.join("memwarden-helper");
    std::fs::rename(&helper.exe, &renamed).unwrap();
    // Unprivileged, bounding set kept: uid 65534 when we are root, else ourselves.
    let comfy = match unprivileged(&alloc_child_path()) {
        Ok(mut cmd) => AllocChild::spawn_with(cmd.arg("8")),
        Err(e) => skip!(ctx, "{e}"),
    };
    let mut cmd = if is_root() {
        as_nobody(&renamed, true).unwrap()
    } else {
        Command::new(&renamed)
    };
    let out = cmd
        .args(["trim", "--pid", &comfy.pid.to_string(), "--cold"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let want = format!("sudo setcap cap_sys_nice+ep {}", renamed.display());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(!stderr(&out).contains(bin()), "{}", stderr(&out));
    assert!(Path::new(&renamed).exists());
}

test_main!(
    setcap_helper_trims_an_unprivileged_comfyui,
    setcap_helper_cannot_reach_another_users_process,
    message_names_the_running_copy_not_the_build_output,
);
