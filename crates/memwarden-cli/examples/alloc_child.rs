//! A process with a known allocation, for tests and benchmarks.
//!
//! `alloc_child MIB [heap-fragment | mlock]`
//! - default: one anonymous private mapping of MIB MiB, every page written with
//!   non-zero data (so it is really resident and cannot be shared or deduplicated).
//! - `heap-fragment`: MIB MiB of small malloc blocks, then all but every 64th freed:
//!   freed-but-retained heap that only malloc_trim gives back.
//! - `mlock`: the default allocation plus a separate mapping of LOCKED_MIB MiB,
//!   written and mlock()ed: a range the kernel refuses to page out or mark cold.
//!
//! Prints `ready PID` once resident, then serves commands on stdin, one per line:
//! `touch` re-writes every page (brings paged-out memory back), `trim` calls
//! malloc_trim(0), `selftrim pageout|cold MIN_SWAP_FREE` pages this very process
//! out through memwarden-core (as the ComfyUI nodes do in-process) and writes the
//! report, or the error as `{"error","kind","exit_code"}`, as one JSON line on
//! *stderr*, `exit` (or EOF) ends it. Every command answers `ok` on stdout.

// Linux only (it reports its memory from /proc): on other targets
// this example is empty and has no `main`, so it is checked by clippy, not linked.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

use std::io::{BufRead, Write};

#[path = "support/mapping.rs"]
mod mapping;
use mapping::{held_mapping, touch};

/// Size of the `mlock` mode's locked mapping (below the default RLIMIT_MEMLOCK of
/// 8 MiB, so an unprivileged child can lock it too).
const LOCKED_MIB: usize = 4;

/// A written, mlock()ed anonymous mapping of `mib` MiB of its own (a VMA the kernel
/// will not advise); lives until the process exits.
fn locked_mapping(mib: usize) {
    let len = mib << 20;
    let p = held_mapping(len, 7, false);
    // SAFETY: `p` is a mapping of `len` bytes that is never unmapped.
    if unsafe { libc::mlock(p, len) } != 0 {
        panic!("mlock: {}", std::io::Error::last_os_error());
    }
}

/// `selftrim pageout|cold MIN_SWAP_FREE`: page this process out through the core.
fn selftrim(args: &[&str]) -> String {
    use memwarden_core::act::{pageout, PageoutOptions};
    use memwarden_core::model::PageoutAdvice;
    let opts = PageoutOptions {
        advice: match args.first() {
            Some(&"cold") => PageoutAdvice::Cold,
            _ => PageoutAdvice::Pageout,
        },
        min_swap_free: args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0),
        ..Default::default()
    };
    match pageout(std::process::id() as i64, &opts, &mut |_, _| {}) {
        Ok(r) => serde_json::to_string(&r).expect("serializes"),
        Err(e) => serde_json::json!({
            "error": e.to_string(),
            "kind": e.kind(),
            "exit_code": e.exit_code(),
        })
        .to_string(),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: alloc_child MIB [heap-fragment | mlock]");
    let mode = args.next();
    let fragment = mode.as_deref() == Some("heap-fragment");
    if mode.as_deref() == Some("mlock") {
        locked_mapping(LOCKED_MIB);
    }
    let bytes = mib << 20;

    let mut big: Vec<u8> = Vec::new();
    let mut kept: Vec<Vec<u8>> = Vec::new();
    if fragment {
        // 8 KiB blocks stay below glibc's mmap threshold, so they live in the heap.
        let block = 8 << 10;
        let mut all: Vec<Vec<u8>> = (0..bytes / block)
            .map(|i| vec![(i as u8) | 1; block])
            .collect();
        for (i, b) in all.drain(..).enumerate() {
            if i % 64 == 63 {
                kept.push(b);
            }
        }
    } else {
        big = vec![0u8; bytes];
        touch(&mut big, 1);
    }

    let stdout = std::io::stdout();
    writeln!(stdout.lock(), "ready {}", std::process::id()).unwrap();
    stdout.lock().flush().unwrap();
    let mut round = 2u8;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied().unwrap_or("") {
            "selftrim" => {
                let report = selftrim(&words[1..]);
                let stderr = std::io::stderr();
                writeln!(stderr.lock(), "{report}").unwrap();
            }
            "touch" => {
                touch(&mut big, round);
                round = round.wrapping_add(1);
            }
            #[cfg(target_env = "gnu")]
            "trim" => unsafe {
                libc_malloc_trim();
            },
            "exit" => break,
            _ => {}
        }
        writeln!(stdout.lock(), "ok").unwrap();
        stdout.lock().flush().unwrap();
    }
    drop(kept);
}

#[cfg(target_env = "gnu")]
unsafe fn libc_malloc_trim() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    malloc_trim(0);
}
