//! Returning this process's freed-but-retained heap to the OS (malloc_trim).
//! One test in its own binary: no other test thread allocates meanwhile.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_heap_goes_back_to_the_os() {
    const MIB: u64 = 1 << 20;
    let rss = || {
        memwarden_core::process_memory(std::process::id() as i64, false)
            .unwrap()
            .rss_bytes
    };
    let base = rss();
    // 512 MiB of 8 KiB blocks (below the mmap threshold: they live in the heap),
    // then free all but every 64th: the heap keeps its size, RSS stays high.
    let block = 8 << 10;
    let mut blocks: Vec<Vec<u8>> = (0..(512 * MIB as usize) / block)
        .map(|i| vec![(i as u8) | 1; block])
        .collect();
    let mut kept = Vec::new();
    for (i, b) in blocks.drain(..).enumerate() {
        if i % 64 == 63 {
            kept.push(b);
        }
    }
    drop(blocks);
    let retained = rss();
    assert!(
        retained > base + 400 * MIB,
        "heap not retained: base {base}, now {retained}"
    );

    let r = memwarden_core::act::trim_own_heap().unwrap();
    assert!(r.released);
    assert_eq!(r.pid, std::process::id());
    assert_eq!(
        (r.call.as_str(), r.resident.as_str()),
        ("malloc_trim", "RSS")
    );
    assert!(r.rss_before_bytes.abs_diff(retained) < 8 * MIB);
    let live = kept.len() as u64 * block as u64; // 8 MiB still in use
                                                 // Back to within 10% of the live data (plus the process's own baseline).
    assert!(
        r.rss_after_bytes <= base + live + (live + base) / 10 + 16 * MIB,
        "after trim {} (base {base}, live {live})",
        r.rss_after_bytes
    );
    assert!(r.freed_bytes > 400 * MIB as i64, "{r:?}");
    assert_eq!(
        kept.iter()
            .map(|b| b[0] as u64)
            .filter(|v| v % 2 == 1)
            .count(),
        kept.len()
    );
}
