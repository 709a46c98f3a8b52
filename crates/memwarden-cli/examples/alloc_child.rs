//! A process with a known allocation, for tests and benchmarks.
//!
//! `alloc_child MIB [heap-fragment]`
//! - default: one anonymous private mapping of MIB MiB, every page written with
//!   non-zero data (so it is really resident and cannot be shared or deduplicated).
//! - `heap-fragment`: MIB MiB of small malloc blocks, then all but every 64th freed:
//!   freed-but-retained heap that only malloc_trim gives back.
//!
//! Prints `ready PID` once resident, then serves commands on stdin, one per line:
//! `touch` re-writes every page (brings paged-out memory back), `trim` calls
//! malloc_trim(0), `exit` (or EOF) ends it.

use std::io::{BufRead, Write};

fn touch(buf: &mut [u8], round: u8) {
    for (i, chunk) in buf.chunks_mut(4096).enumerate() {
        chunk[0] = round.wrapping_add(i as u8) | 1;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: alloc_child MIB [heap-fragment]");
    let fragment = args.next().as_deref() == Some("heap-fragment");
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
        match line.trim() {
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
