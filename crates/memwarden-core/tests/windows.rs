//! Windows probes and the working-set trim against a real child process: this
//! test binary started again as `child_process`, which allocates and touches a
//! known amount of memory, says so on stdout, and waits for stdin to close.
//! Run by scripts/test-windows (under Wine on Linux) and on Windows itself.
//!
//! Wine reports a process's working set from the Linux RSS of the process that
//! runs it, Wine's own libraries included, and its EmptyWorkingSet and
//! SetProcessWorkingSetSizeEx succeed without shrinking anything: so these tests
//! check that the touched memory is found (a lower bound) and that the trim runs
//! and is reported, never that the working set shrank.
#![cfg(windows)]

mod windows_support;

use memwarden_core::act::{pageout, trim_own_heap, PageoutOptions};
use memwarden_core::error::exit_code;
use memwarden_core::{process_memory, Error};
use std::path::{Path, PathBuf};
use windows_support::Toucher;

const MIB: u64 = 1 << 20;
/// What the child allocates and touches.
const CHILD_MIB: u64 = 192;
/// The working set holds at least this share of what was touched: every page was
/// written just before, nothing asked to trim it, and the machine is not short of
/// memory (Windows may still trim a little under pressure).
const MIN_RESIDENT_SHARE: f64 = 0.9;

#[test]
#[ignore = "the child process of the other tests, started by them"]
fn child_process() {
    windows_support::run_child();
}

fn min_resident() -> u64 {
    (CHILD_MIB as f64 * MIN_RESIDENT_SHARE) as u64 * MIB
}

#[test]
fn the_probes_find_and_measure_the_child() {
    let child = Toucher::start(CHILD_MIB);
    let pid = child.pid();
    let p = process_memory(pid as i64, false).unwrap();
    assert!(p.name.ends_with(".exe"), "{p:?}");
    assert!(p.rss_bytes >= min_resident(), "{p:?}");
    // Private commit covers the touched block; the private part of the working
    // set is bounded by both.
    assert!(p.vms_bytes >= CHILD_MIB * MIB, "{p:?}");
    assert!(p.rss_anon_bytes <= p.rss_bytes, "{p:?}");
    assert_eq!(p.rss_anon_bytes + p.rss_file_bytes, p.rss_bytes);
    let snap = memwarden_core::collect(&memwarden_core::SnapshotOptions {
        gpu: false,
        top: 100_000,
        ..Default::default()
    })
    .unwrap();
    // Listed from one SystemProcessInformation call: the same counters.
    let listed = snap.top_processes.processes.iter().find(|q| q.pid == pid);
    assert!(
        listed.is_some_and(|q| q.rss_bytes >= min_resident()
            && q.vms_bytes >= CHILD_MIB * MIB
            && q.name == p.name),
        "{listed:?}"
    );
    assert!(snap.kernel.starts_with("Windows "), "{}", snap.kernel);
    // Each listed page file names its drive and the drive's free space (Wine
    // lists none; Windows usually C:\pagefile.sys).
    for f in &snap.system.page_files {
        assert!(
            f.drive.ends_with('\\') && f.drive_free_bytes.is_some(),
            "{f:?}"
        );
    }
    assert!(snap.system.total_bytes > CHILD_MIB * MIB);
}

#[test]
fn trim_by_pid_runs_and_reports_both_calls() {
    let child = Toucher::start(CHILD_MIB);
    let pid = child.pid() as i64;
    // The swap check judges the page files: it either allows the trim or refuses it
    // with its reason: by the page files' drives where they are listed (Windows),
    // by the page-file figures otherwise (Wine lists none: no swap, or an
    // estimate from the commit limit).
    match pageout(pid, &PageoutOptions::default(), &mut |_, _| {}) {
        Ok(r) => assert!(r.swap_check.allowed && !r.swap_check.forced, "{r:?}"),
        Err(Error::SwapRefused { message, verdict }) => {
            assert!(
                message.contains("swap") || message.contains("page file"),
                "{message}"
            );
            assert!(!verdict.allowed && verdict.reason == message, "{verdict:?}");
        }
        Err(e) => panic!("{e}"),
    }
    let opts = PageoutOptions {
        force: true,
        ..Default::default()
    };
    let mut calls = 0;
    let r = pageout(pid, &opts, &mut |_, _| calls += 1).unwrap();
    let names: Vec<_> = r.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["open", "privileges", "swap_check", "advise", "verify"]
    );
    assert!(
        r.steps[0].detail.contains("PROCESS_SET_QUOTA"),
        "{:?}",
        r.steps[0]
    );
    windows_support::assert_names_each_privilege(&r.steps[1].detail);
    let advise = &r.steps[3].detail;
    assert!(
        advise.contains("EmptyWorkingSet done") && advise.contains("(-1, -1) done"),
        "{advise}"
    );
    assert!(r.rss_before_bytes >= min_resident(), "{r:?}");
    assert_eq!(r.bytes_advised, r.rss_before_bytes.max(r.bytes_advised));
    assert!(calls >= 2);
}

#[test]
fn a_pid_that_does_not_exist_is_no_such_process() {
    // Windows PIDs are multiples of 4, far below this one.
    let pid = 0x7FFF_FFF0;
    for e in [
        pageout(pid, &PageoutOptions::default(), &mut |_, _| {}).unwrap_err(),
        process_memory(pid, false).unwrap_err(),
    ] {
        assert!(matches!(e, Error::NoSuchProcess { .. }), "{e}");
        assert_eq!(e.exit_code(), exit_code::NOT_FOUND);
    }
}

#[test]
fn the_system_processes_are_protected() {
    for (pid, needle) in [(0, "idle"), (4, "kernel's own process")] {
        let e = pageout(pid, &PageoutOptions::default(), &mut |_, _| {}).unwrap_err();
        assert!(matches!(e, Error::Protected(_)), "{pid}: {e}");
        assert!(e.to_string().contains(needle), "{pid}: {e}");
        assert_eq!(e.exit_code(), exit_code::PROTECTED);
    }
}

#[test]
fn an_exited_process_still_held_open_is_refused() {
    let mut child = Toucher::start(1);
    child.end();
    // Our Child still holds its handle: the process object lives on, exited.
    let e = pageout(
        child.pid() as i64,
        &PageoutOptions::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Protected(_)) && e.to_string().contains("zombie"),
        "{e}"
    );
}

#[test]
fn own_heap_is_compacted_and_measured() {
    // Free many small blocks (they stay in the process heap), then compact.
    // Wine's HeapCompact decommits nothing, so only the report is checked: the
    // working set before and after, and the difference between them.
    let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8 | 1; 16 << 10]).collect();
    drop(std::hint::black_box(blocks));
    let r = trim_own_heap().unwrap();
    assert_eq!(r.pid, std::process::id());
    assert_eq!(
        (r.call.as_str(), r.resident.as_str()),
        ("HeapCompact", "working set")
    );
    assert!(r.rss_before_bytes > 0 && r.rss_after_bytes > 0, "{r:?}");
    assert_eq!(
        r.freed_bytes,
        r.rss_before_bytes as i64 - r.rss_after_bytes as i64
    );
}

/// A path as text, for comparing paths that differ only in case.
fn lower(p: &Path) -> String {
    p.to_string_lossy().to_lowercase()
}

#[test]
fn the_child_is_found_by_its_command_line() {
    // Wine answers NtQueryInformationProcess(ProcessCommandLineInformation) as
    // Windows does; the working directory is read from the PEB on both.
    let child = Toucher::start(1);
    let pid = child.pid();
    let is_child = |argv: &[String]| argv.iter().any(|a| a == "child_process");
    let here = lower(&std::env::current_dir().unwrap());
    let found = memwarden_core::probe::process::find_processes(&is_child, &|launch| {
        assert!(launch.root.is_none());
        Some((launch.argv.clone(), launch.cwd.clone()))
    })
    .unwrap();
    let found: Vec<_> = found
        .into_iter()
        .map(|(p, (argv, cwd))| {
            // Our child runs where we do.
            if p.pid == pid {
                assert_eq!(cwd.as_deref().map(lower), Some(here.clone()), "{p:?}");
            }
            (p, argv)
        })
        .collect();
    let (p, argv) = found
        .iter()
        .find(|(p, _)| p.pid == pid)
        .unwrap_or_else(|| panic!("{pid} not among {found:?}"));
    assert!(
        argv[0].ends_with(".exe") && argv[1..].contains(&"--exact".to_string()),
        "{argv:?}"
    );
    assert!(
        p.cmdline.contains("child_process") && p.rss_bytes > 0,
        "{p:?}"
    );
    assert!(found.iter().all(|(p, _)| p.pid != std::process::id()));
    let read = process_memory(pid as i64, false).unwrap();
    assert_eq!(read.cmdline, p.cmdline);
}

/// A ComfyUI checkout as `--auto` recognises one (its `comfy` package, its
/// `nodes.py`, its `main.py`), and beside it a copy of this test binary named
/// `python.exe` (with the ProcessPrng stand-in scripts/wine-run puts next to it).
fn fake_portable(base: &Path) -> (PathBuf, PathBuf) {
    let checkout = base.join("ComfyUI");
    std::fs::create_dir_all(checkout.join("comfy")).unwrap();
    std::fs::write(checkout.join("nodes.py"), "").unwrap();
    std::fs::write(checkout.join("main.py"), "").unwrap();
    let bin = base.join("python_embeded");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = std::env::current_exe().unwrap();
    std::fs::copy(&exe, bin.join("python.exe")).unwrap();
    let shim = exe.with_file_name("bcryptprimitives.dll");
    if shim.is_file() {
        std::fs::copy(&shim, bin.join("bcryptprimitives.dll")).unwrap();
    }
    (checkout, bin.join("python.exe"))
}

#[test]
fn auto_finds_comfyui_started_as_bare_main_py_from_its_folder() {
    let base = std::env::temp_dir().join(format!("memwarden-auto-{}", std::process::id()));
    let (checkout, python) = fake_portable(&base);
    // `python.exe main.py` run from the checkout: only the working directory says
    // which main.py it is.
    let mut child = Toucher::start_as(1, &python, &["main.py"], Some(&checkout));
    let found = memwarden_core::act::find_comfyui().unwrap();
    child.end();
    let _ = std::fs::remove_dir_all(&base);
    let (_, main) = found
        .iter()
        .find(|(p, _)| p.pid == child.pid())
        .unwrap_or_else(|| panic!("PID {} not among {found:?}", child.pid()));
    assert_eq!(lower(main), lower(&checkout.join("main.py")));
}

/// Whether this runs under Wine: its ntdll exports `wine_get_version`.
fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: a NUL-terminated name; ntdll is loaded in every process.
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    // SAFETY: a valid module handle and a NUL-terminated name, only tested.
    !module.is_null()
        && unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}

#[test]
fn purge_cache_refuses_under_wine_and_changes_nothing() {
    use memwarden_core::act::{purge_cache, PurgeOptions};
    let opts = PurgeOptions {
        slab: false,
        compact: false,
    };
    let before = memwarden_core::probe::memory::read_system_memory().unwrap();
    match purge_cache(opts) {
        // Wine's memory-list commands are a stub answering STATUS_SUCCESS: the
        // purge says so instead of reporting a success that did nothing.
        Err(e) if under_wine() => {
            assert!(matches!(e, Error::Unsupported(_)), "{e}");
            assert_eq!(e.exit_code(), exit_code::UNSUPPORTED);
            let m = e.to_string();
            assert!(
                m.starts_with("not supported here: purging the standby list under Wine")
                    && m.contains("STATUS_SUCCESS")
                    && m.ends_with("nothing was changed"),
                "{m}"
            );
            // Refused before any command: the system cache is where it was.
            let after = memwarden_core::probe::memory::read_system_memory().unwrap();
            assert_eq!(after.cached_bytes, before.cached_bytes);
        }
        Ok(r) if under_wine() => panic!("a purge reported under Wine: {r:?}"),
        // Windows itself: refused without the privilege, or one step per command.
        Err(e) => {
            assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
            assert_eq!(e.exit_code(), exit_code::PERMISSION);
            let m = e.to_string();
            assert!(
                m.contains("SeProfileSingleProcessPrivilege") && m.contains("run as Administrator"),
                "{m}"
            );
        }
        Ok(r) => {
            let names: Vec<_> = r.steps.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["FlushModifiedList", "PurgeLowPriorityStandbyList"]);
            for s in &r.steps {
                assert!(s.detail.starts_with(&format!("{} : ", s.name)), "{s:?}");
            }
        }
    }
}
