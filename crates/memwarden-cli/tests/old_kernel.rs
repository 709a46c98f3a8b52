//! The "old kernel" errors, produced by the kernel itself: a seccomp filter makes
//! pidfd_open (Linux 5.3) or process_madvise (Linux 5.10) return ENOSYS for the
//! memwarden process, exactly as a kernel without them does.

mod common;

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use super::common::*;
    use crate::skip;

    const SYS_PIDFD_OPEN: u32 = 434;
    const SYS_PROCESS_MADVISE: u32 = 440;
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

    /// Run memwarden with `nr` answering ENOSYS.
    fn memwarden_without(nr: u32, args: &[&str]) -> std::io::Result<std::process::Output> {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        // SAFETY: pre_exec runs in the forked child; prctl is async-signal-safe and
        // the filter program lives on the stack of this closure until the call.
        unsafe {
            cmd.pre_exec(move || {
                let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
                let filter = [
                    ins((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0, 0, 4), // arch
                    ins(
                        (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                        1,
                        0,
                        AUDIT_ARCH_X86_64,
                    ),
                    ins(
                        (libc::BPF_RET | libc::BPF_K) as u16,
                        0,
                        0,
                        libc::SECCOMP_RET_ALLOW,
                    ),
                    ins((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0, 0, 0), // nr
                    ins(
                        (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                        0,
                        1,
                        nr,
                    ),
                    ins(
                        (libc::BPF_RET | libc::BPF_K) as u16,
                        0,
                        0,
                        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
                    ),
                    ins(
                        (libc::BPF_RET | libc::BPF_K) as u16,
                        0,
                        0,
                        libc::SECCOMP_RET_ALLOW,
                    ),
                ];
                let prog = libc::sock_fprog {
                    len: filter.len() as u16,
                    filter: filter.as_ptr() as *mut _,
                };
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        &prog as *const _,
                    ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.output()
    }

    pub fn kernel_without_pidfd_open(ctx: &mut Ctx) {
        let child = AllocChild::spawn(16);
        let pid = child.pid.to_string();
        let out = match memwarden_without(SYS_PIDFD_OPEN, &["trim", "--pid", &pid, "--force"]) {
            Ok(o) => o,
            Err(e) => skip!(ctx, "cannot install a seccomp filter here: {e}"),
        };
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("pidfd_open needs Linux >= 5.3"),
            "{}",
            stderr(&out)
        );
    }

    pub fn kernel_without_process_madvise_changes_nothing(ctx: &mut Ctx) {
        if !is_root() {
            skip!(ctx, "advising another process needs CAP_SYS_NICE");
        }
        let child = AllocChild::spawn(64);
        let before = child.status();
        let pid = child.pid.to_string();
        let out = match memwarden_without(
            SYS_PROCESS_MADVISE,
            &["trim", "--pid", &pid, "--force", "--json"],
        ) {
            Ok(o) => o,
            Err(e) => skip!(ctx, "cannot install a seccomp filter here: {e}"),
        };
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["kind"], "unsupported");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("process_madvise needs Linux >= 5.10"),
            "{v}"
        );
        let after = child.status();
        assert!(before.0.abs_diff(after.0) < 2 * MIB && before.2 == after.2);
    }
}

test_main!(
    #[cfg(target_arch = "x86_64")]
    x86_64::kernel_without_pidfd_open,
    #[cfg(target_arch = "x86_64")]
    x86_64::kernel_without_process_madvise_changes_nothing,
);
