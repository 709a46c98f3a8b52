//! Page a process's idle memory out, behind the swap check.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::{
    PageoutAdvice, PageoutReport, ProcessMemory, Step, SwapVerdict, SCHEMA_VERSION,
};
use crate::policy::{protect, swap};
use crate::probe::{cgroup, memory, process};
use crate::render;
use crate::sys::{advise::Target, Advised};
use crate::units::format_bytes;

use super::{ms_since, PageoutOptions, Progress};

/// Page the idle private memory of `pid` out to swap (MADV_PAGEOUT, or MADV_COLD),
/// behind the swap check. On Linux another process is advised through
/// pidfd_open + process_madvise, which needs CAP_SYS_NICE and ptrace access to it
/// (Linux >= 5.10); the calling process itself through madvise over its own
/// ranges, which needs no capability (Linux >= 5.4). Ranges the kernel refuses
/// (mlocked, device, hugetlb) are skipped and counted in the report.
pub fn pageout(pid: i64, opts: &PageoutOptions, progress: Progress<'_>) -> Result<PageoutReport> {
    let t0 = Instant::now();
    // identify, and refuse what memwarden never touches
    let pid = protect::validate_pid(pid)?;
    let id = process::identity(pid)?;
    protect::check_target(&id)?;
    // open (pinned against PID reuse) and privileges
    let mut target = Target::open(&id)?;
    let mut steps = vec![Step::ok("open", target.describe())];
    steps.push(Step::ok("privileges", target.check_privileges()?));
    // the swap check: anonymous pages need swap
    let before = process::read_process(pid)?;
    let verdict = swap_verdict(pid, &before, opts)?;
    steps.push(Step::new(
        "swap_check",
        verdict.allowed,
        verdict.reason.clone(),
    ));
    if !verdict.allowed {
        return Err(Error::SwapRefused {
            message: verdict.reason.clone(),
            verdict: Box::new(verdict),
        });
    }
    // act, then measure
    let advised = target.page_out(opts.advice, progress)?;
    steps.push(Step::ok("advise", advised_detail(&advised, opts.advice)));
    let after = process::resident(pid)?;
    steps.push(Step::ok(
        "verify",
        format!(
            "RSS {} -> {}, swap {} -> {}",
            format_bytes(before.rss_bytes),
            format_bytes(after.rss_bytes),
            format_bytes(before.swap_bytes),
            format_bytes(after.swap_bytes)
        ),
    ));
    Ok(PageoutReport {
        schema_version: SCHEMA_VERSION,
        pid,
        advice: opts.advice,
        steps,
        ranges_advised: advised.ranges,
        bytes_advised: advised.bytes,
        ranges_skipped: advised.skipped,
        rss_before_bytes: before.rss_bytes,
        rss_after_bytes: after.rss_bytes,
        rss_anon_before_bytes: before.rss_anon_bytes,
        rss_anon_after_bytes: after.rss_anon_bytes,
        swap_before_bytes: before.swap_bytes,
        swap_after_bytes: after.swap_bytes,
        freed_bytes: before.rss_bytes as i64 - after.rss_bytes as i64,
        duration_ms: ms_since(t0),
        swap_check: verdict,
        name: before.name,
        cmdline: before.cmdline,
    })
}

/// The swap check's verdict on paging out `before`'s anonymous memory, against
/// free swap and the swap allowance of `pid`'s cgroup, worded with the caller's
/// names.
fn swap_verdict(pid: u32, before: &ProcessMemory, opts: &PageoutOptions) -> Result<SwapVerdict> {
    let system = memory::read_system_memory()?;
    let cg = cgroup::read_cgroup(pid).ok().flatten().map(|(m, _)| m);
    let needed = before.rss_anon_bytes;
    let mut verdict = match opts.advice {
        PageoutAdvice::Cold => swap::cold_verdict(&system, cg.as_ref(), needed, opts.min_swap_free),
        PageoutAdvice::Pageout => {
            swap::evaluate(&system, cg.as_ref(), needed, opts.min_swap_free, opts.force)
        }
    };
    verdict.reason = render::swap::reason(&verdict, &opts.knobs);
    Ok(verdict)
}

fn advised_detail(a: &Advised, advice: PageoutAdvice) -> String {
    if let Some(detail) = &a.detail {
        return detail.clone();
    }
    let name = match advice {
        PageoutAdvice::Pageout => "MADV_PAGEOUT",
        PageoutAdvice::Cold => "MADV_COLD",
    };
    let skipped = if a.skipped > 0 {
        format!(
            "; {} ranges skipped ({}: locked, device or hugetlb memory)",
            a.skipped,
            format_bytes(a.skipped_bytes)
        )
    } else {
        String::new()
    };
    format!(
        "{name} over {} ranges ({}){skipped}",
        a.ranges,
        format_bytes(a.bytes)
    )
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_advised_with_madvise() {
        // Real madvise(MADV_COLD) over this test process: no swap, no capability.
        let mut calls = 0;
        let opts = PageoutOptions {
            advice: PageoutAdvice::Cold,
            ..Default::default()
        };
        let r = pageout(std::process::id() as i64, &opts, &mut |_, _| calls += 1).unwrap();
        let names: Vec<_> = r.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["open", "privileges", "swap_check", "advise", "verify"]
        );
        assert!(r.steps[0].detail.contains("madvise"), "{:?}", r.steps[0]);
        assert!(
            r.steps[1].detail.contains("no capability"),
            "{:?}",
            r.steps[1]
        );
        assert!(r.ranges_advised > 0 && r.bytes_advised > 0, "{r:?}");
        assert!(calls >= 2);
    }
}
