//! Every parser on real captured files (tests/data, see SOURCES.md) with exact
//! expected values, then on every truncation and thousands of mutations of those
//! files: a parser may refuse input, but only with Error::Malformed, never a panic.

use memwarden_core::parse::cgroup::{
    parse_cgroup_mounts, parse_counter, parse_limit, parse_memory_stat, parse_proc_cgroup,
};
use memwarden_core::parse::helper::helper_answer;
use memwarden_core::parse::meminfo::parse_meminfo;
use memwarden_core::parse::proc_pid::{
    parse_cmdline, parse_maps, parse_smaps_rollup, parse_stat, parse_statm, parse_status, MapsEntry,
};
use memwarden_core::parse::psi::parse_psi;
use memwarden_core::parse::request::{
    cleanup_request, comfy_settings, feed_request, guard_request,
};
use memwarden_core::Error;

const KIB: u64 = 1024;

fn data(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn meminfo() {
    let m = parse_meminfo(&data("meminfo")).unwrap();
    assert_eq!(m.total_bytes, 24_683_656 * KIB);
    assert_eq!(m.free_bytes, 21_936_144 * KIB);
    assert_eq!(m.available_bytes, 24_192_572 * KIB);
    assert!(!m.available_estimated);
    assert_eq!(m.used_bytes, (24_683_656 - 24_192_572) * KIB);
    assert_eq!(m.buffers_bytes, 5_240 * KIB);
    assert_eq!(m.cached_bytes, 2_369_620 * KIB);
    assert_eq!(m.shmem_bytes, 8_952 * KIB);
    assert_eq!(m.swap_total_bytes, 0);
    assert_eq!(m.committed_bytes, 49_828 * KIB);
    assert_eq!(m.commit_limit_bytes, 12_341_828 * KIB);
    assert_eq!(m.percent_used, 2.0);
}

#[test]
fn proc_status_statm_stat_cmdline() {
    let s = parse_status(&data("status")).unwrap();
    assert_eq!(s.name, "bash");
    assert_eq!(s.state, 'S');
    assert_eq!((s.vm_size, s.vm_rss), (5_544 * KIB, 4_516 * KIB));
    assert_eq!(
        (s.rss_anon, s.rss_file, s.rss_shmem, s.vm_swap),
        (1_520 * KIB, 2_996 * KIB, 0, 0)
    );
    assert_eq!(s.ns_pids, [1070]);
    assert_eq!(s.cap_eff, 0x01ff_feff_ffff);
    assert!(s.has_mm);

    assert_eq!(parse_statm(&data("statm")).unwrap(), (1386, 1129, 749));

    let st = parse_stat(&data("stat")).unwrap();
    assert_eq!((st.comm.as_str(), st.state, st.ppid), ("bash", 'S', 1069));
    assert!(!st.is_kernel_thread());
    let k = parse_stat(&data("stat_kthreadd")).unwrap();
    assert_eq!(k.comm, "kthreadd");
    assert!(k.is_kernel_thread());

    let raw =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cmdline"))
            .unwrap();
    assert_eq!(parse_cmdline(&raw), "bash /dev/fd/3");
}

#[test]
fn maps_and_smaps_rollup() {
    let maps = parse_maps(&data("maps")).unwrap();
    assert_eq!(maps.len(), 44);
    assert_eq!(maps.len(), data("maps").lines().count());
    assert_eq!(
        (maps[0].start, maps[0].end),
        (0x55fa_0181_4000, 0x55fa_0184_3000)
    );
    assert_eq!(maps[0].path, "/usr/bin/bash");
    assert!(maps[0].readable && !maps[0].writable && maps[0].private);
    let candidates: Vec<&MapsEntry> = maps.iter().filter(|m| m.is_pageout_candidate()).collect();
    // The 11 rw-p lines: bash .data/.bss, 5 anonymous, [heap], libc, libtinfo, ld.so, [stack].
    assert_eq!(candidates.len(), 11);
    assert_eq!(
        candidates.len(),
        data("maps")
            .lines()
            .filter(|l| l.contains(" rw-p "))
            .count()
    );
    assert_eq!(candidates.iter().map(|m| m.len()).sum::<u64>(), 1_620 * KIB);
    assert_eq!(
        candidates.last().map(|m| (m.path.as_str(), m.len())),
        Some(("[stack]", 132 * KIB))
    );
    for special in ["[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]"] {
        let m = maps.iter().find(|m| m.path == special).unwrap();
        assert!(!m.is_pageout_candidate(), "{special}");
    }
    assert_eq!(maps.last().unwrap().start, 0xffff_ffff_ff60_0000);
    assert!(candidates.iter().any(|m| m.path == "[heap]"));
    assert!(maps
        .iter()
        .any(|m| m.path == "[vdso]" && !m.is_pageout_candidate()));

    let r = parse_smaps_rollup(&data("smaps_rollup")).unwrap();
    assert_eq!(r.rss, 4_516 * KIB);
    assert_eq!(r.pss, 1_493 * KIB);
    assert_eq!(r.uss, (8 + 460) * KIB);
    assert_eq!((r.swap, r.swap_pss), (0, 0));
}

#[test]
fn cgroup_files() {
    let e = parse_proc_cgroup(&data("proc_cgroup")).unwrap();
    assert_eq!(e.len(), 10);
    let mem = e.iter().find(|x| x.controllers == ["memory"]).unwrap();
    assert_eq!(mem.path, "/process_api/54a55cd9ade12aa8924e85045f552220");
    assert!(e
        .iter()
        .any(|x| x.hierarchy_id == 0 && x.controllers.is_empty() && x.path == "/"));

    let mounts = parse_cgroup_mounts(&data("mountinfo")).unwrap();
    let v1mem = mounts
        .iter()
        .find(|m| m.super_options.iter().any(|o| o == "memory"))
        .unwrap();
    assert_eq!(
        (
            v1mem.version,
            v1mem.mount_point.as_str(),
            v1mem.root.as_str()
        ),
        (1, "/sys/fs/cgroup/memory", "/")
    );
    let v2 = mounts.iter().find(|m| m.version == 2).unwrap();
    assert_eq!(v2.mount_point, "/sys/fs/cgroup/unified");
    assert_eq!(
        mounts.len(),
        10,
        "tmpfs at /sys/fs/cgroup is not a cgroup mount"
    );

    let v1 = parse_memory_stat(&data("v1_memory.stat"), 1).unwrap();
    assert_eq!(v1.inactive_file, 1_542_852_608);
    assert_eq!(v1.anon, Some(2_707_456));
    assert_eq!(v1.file, Some(2_413_645_824));
    assert_eq!(
        parse_limit(&data("v1_memory.limit_in_bytes"), "f").unwrap(),
        None,
        "PAGE_COUNTER_MAX is no limit"
    );
    assert_eq!(
        parse_counter(&data("v1_memory.usage_in_bytes"), "f").unwrap(),
        2_632_790_016
    );

    let v2s = parse_memory_stat(&data("v2_memory.stat"), 2).unwrap();
    assert_eq!(v2s.inactive_file, 51_507_200);
    assert_eq!(v2s.anon, Some(860_160));
    assert_eq!(v2s.file, Some(129_146_880));
    assert_eq!(
        parse_counter(&data("v2_memory.current"), "f").unwrap(),
        139_350_016
    );
    assert_eq!(parse_limit(&data("v2_memory.max"), "f").unwrap(), None);
    assert_eq!(parse_limit(&data("v2_memory.swap.max"), "f").unwrap(), None);
    assert_eq!(
        parse_counter(&data("v2_memory.swap.current"), "f").unwrap(),
        0
    );
}

#[test]
fn v1_parent_group_prefers_hierarchical_totals() {
    // process_api/ holds no process itself: its local counters are 0 and only the
    // total_* ones count its children, so the local inactive_file must not win.
    let text = data("v1_parent_memory.stat");
    assert!(text.lines().any(|l| l == "inactive_file 0"));
    let s = parse_memory_stat(&text, 1).unwrap();
    assert_eq!(s.inactive_file, 3_725_316_096);
    assert_eq!(s.anon, Some(434_716_672));
    assert_eq!(s.file, Some(4_986_961_920));
    // Read as v2 the same text has no anon/file keys and only the local counter.
    let as_v2 = parse_memory_stat(&text, 2).unwrap();
    assert_eq!(
        (as_v2.inactive_file, as_v2.anon, as_v2.file),
        (0, None, None)
    );
}

#[test]
fn cgroup_v2_container_with_a_limit() {
    // couchbase/platform: a Docker container on Ubuntu 22.04 with an 8 GiB limit.
    let s = parse_memory_stat(&data("couchbase_v2_memory.stat"), 2).unwrap();
    assert_eq!(s.inactive_file, 42_106_880);
    assert_eq!(s.anon, Some(2_147_508_224));
    assert_eq!(s.file, Some(590_389_248));
    let f = "memory.max";
    assert_eq!(
        parse_limit(&data("couchbase_v2_memory.max"), f).unwrap(),
        Some(8 << 30)
    );
    assert_eq!(
        parse_limit(&data("couchbase_v2_memory.high"), f).unwrap(),
        None
    );
    assert_eq!(
        parse_limit(&data("couchbase_v2_memory.swap.max"), f).unwrap(),
        Some(8 << 30)
    );
    assert_eq!(
        parse_counter(&data("couchbase_v2_memory.current"), f).unwrap(),
        2_766_684_160
    );
    assert_eq!(
        parse_counter(&data("couchbase_v2_memory.swap.current"), f).unwrap(),
        0
    );

    let p = parse_psi(&data("couchbase_v2_memory.pressure"), "memory.pressure").unwrap();
    assert_eq!(
        (p.some.avg10, p.some.avg60, p.some.avg300, p.some.total_us),
        (1.05, 0.29, 0.06, 446_327)
    );
    let full = p.full.unwrap();
    assert_eq!(
        (full.avg10, full.avg60, full.avg300, full.total_us),
        (0.36, 0.11, 0.02, 308_567)
    );
}

#[test]
fn meminfo_of_an_old_kernel_estimates_available() {
    // A router's 2.6-era kernel: no MemAvailable line, no final newline.
    let text = data("meminfo_old_kernel");
    assert!(!text.contains("MemAvailable") && !text.ends_with('\n'));
    let m = parse_meminfo(&text).unwrap();
    assert!(m.available_estimated);
    assert_eq!(m.total_bytes, 122_976 * KIB);
    assert_eq!(m.free_bytes, 73_424 * KIB);
    // MemFree + Buffers + Cached.
    assert_eq!(m.available_bytes, (73_424 + 5_000 + 15_792) * KIB);
    assert_eq!(m.used_bytes, 28_760 * KIB);
    assert_eq!(m.percent_used, 23.4);
    assert_eq!(
        (m.shmem_bytes, m.swap_total_bytes, m.swap_used_bytes),
        (0, 0, 0)
    );
    assert_eq!(m.committed_bytes, 7_304 * KIB);
    assert_eq!(m.commit_limit_bytes, 116_824 * KIB);
}

#[test]
fn pressure() {
    for file in ["pressure_memory", "v2_memory.pressure_hybrid"] {
        let p = parse_psi(&data(file), file).unwrap();
        assert!(p.full.is_some(), "{file} has a full line");
    }
    let p = parse_psi(&data("pressure_memory"), "x").unwrap();
    assert_eq!(
        (p.some.avg10, p.some.avg60, p.some.avg300, p.some.total_us),
        (0.0, 0.0, 0.0, 149)
    );
    assert_eq!(p.full.unwrap().total_us, 149);
}

#[test]
fn mountinfo_octal_escapes() {
    // The kernel escapes space, tab, newline and backslash as \ooo; fuzz_cgroup found
    // that an escape above \377 overflowed a u8, so it must stay literal text.
    let line = "35 31 0:32 /a\\134b /sys/fs/cgroup/x\\777y\\040z rw - cgroup cgroup rw,memory\n";
    let m = parse_cgroup_mounts(line).unwrap();
    assert_eq!(m[0].root, "/a\\b");
    assert_eq!(m[0].mount_point, "/sys/fs/cgroup/x\\777y z");
    for esc in ["\\400", "\\777", "\\", "\\0", "\\04"] {
        let line = format!("1 2 0:3 / /m{esc} rw - cgroup2 cgroup2 rw\n");
        let m = parse_cgroup_mounts(&line).unwrap();
        assert_eq!(m[0].mount_point, format!("/m{esc}"), "{esc}");
    }
}

#[test]
fn explicit_garbage_is_refused_with_malformed() {
    let malformed = |r: Result<(), Error>| matches!(r, Err(Error::Malformed { .. }));
    assert!(malformed(parse_meminfo("").map(drop)));
    assert!(malformed(
        parse_meminfo("MemFree: 10 kB\nBuffers: 1 kB\n").map(drop)
    ));
    assert!(malformed(
        parse_meminfo("MemTotal: 0 kB\nMemFree: 0 kB\n").map(drop)
    ));
    assert!(malformed(parse_stat("1 (bash S 0 0").map(drop)));
    assert!(malformed(parse_stat("1 bash) S 0").map(drop)));
    assert!(malformed(parse_statm("12 x 3").map(drop)));
    assert!(malformed(
        parse_psi("some avg10=200 avg60=0 avg300=0 total=1", "p").map(drop)
    ));
    assert!(malformed(parse_psi("some avg10=1", "p").map(drop)));
    assert!(malformed(parse_smaps_rollup("Pss: 1 kB").map(drop)));
    assert!(malformed(parse_maps("7f00-7e00 rw-p 0 0 0 x").map(drop)));
    assert!(malformed(parse_proc_cgroup("memory:/x").map(drop)));
    assert!(malformed(parse_memory_stat("anon -5\n", 2).map(drop)));
    assert!(
        malformed(parse_memory_stat("anon 5\n", 2).map(drop)),
        "no inactive_file"
    );
    assert!(malformed(
        parse_limit("99999999999999999999999", "f").map(drop)
    ));
    assert!(malformed(parse_counter("-1", "f").map(drop)));
    let binary = String::from_utf8_lossy(&[0xff, 0x00, 0xfe, b'\n', 0x80, b':', 0x01]).into_owned();
    assert!(malformed(parse_meminfo(&binary).map(drop)));
    assert!(malformed(parse_status(&binary).map(drop)));
}

/// Every parser, fed `text`: Ok or Malformed, never a panic or another error.
fn all_parsers_survive(text: &str) {
    fn ok_or_malformed<T>(what: &str, r: Result<T, Error>, text: &str) {
        if let Err(e) = r {
            assert!(
                matches!(e, Error::Malformed { .. }),
                "{what} returned {e:?} for {text:?}"
            );
        }
    }
    ok_or_malformed("meminfo", parse_meminfo(text), text);
    ok_or_malformed("status", parse_status(text), text);
    ok_or_malformed("statm", parse_statm(text), text);
    ok_or_malformed("stat", parse_stat(text), text);
    ok_or_malformed("maps", parse_maps(text), text);
    ok_or_malformed("smaps_rollup", parse_smaps_rollup(text), text);
    ok_or_malformed("proc cgroup", parse_proc_cgroup(text), text);
    ok_or_malformed("mountinfo", parse_cgroup_mounts(text), text);
    ok_or_malformed("memory.stat v1", parse_memory_stat(text, 1), text);
    ok_or_malformed("memory.stat v2", parse_memory_stat(text, 2), text);
    ok_or_malformed("limit", parse_limit(text, "f"), text);
    ok_or_malformed("counter", parse_counter(text, "f"), text);
    ok_or_malformed("psi", parse_psi(text, "f"), text);
    let _ = parse_cmdline(text.as_bytes());
    // The helper's answer is never Malformed: a report, or an error saying why not.
    let _ = helper_answer("h", text, text, 1);
    // A request body is never Malformed either: its values, or what was wrong.
    let _ = cleanup_request(text, "monitor");
    let _ = feed_request(text);
    let _ = guard_request(text);
    let _ = comfy_settings(text);
}

const CAPTURES: [&str; 31] = [
    "meminfo",
    "status",
    "statm",
    "stat",
    "stat_kthreadd",
    "maps",
    "smaps_rollup",
    "proc_cgroup",
    "mountinfo",
    "pressure_memory",
    "v2_memory.pressure_hybrid",
    "v1_memory.stat",
    "v1_memory.limit_in_bytes",
    "v2_memory.stat",
    "v2_memory.current",
    "v2_memory.max",
    "v2_memory.swap.max",
    "v2_memory.swap.current",
    "v1_memory.usage_in_bytes",
    "v1_parent_memory.stat",
    "cmdline",
    "meminfo_old_kernel",
    "couchbase_v2_memory.stat",
    "couchbase_v2_memory.current",
    "couchbase_v2_memory.max",
    "couchbase_v2_memory.high",
    "couchbase_v2_memory.pressure",
    "couchbase_v2_memory.swap.max",
    "couchbase_v2_memory.swap.current",
    "helper_pageout_report.json",
    "helper_swap_refused.json",
];

#[test]
fn every_truncation_of_every_capture() {
    for name in CAPTURES {
        let text = data(name);
        for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            all_parsers_survive(&text[..cut]);
        }
    }
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NASTY: [&[u8]; 15] = [
    b"99999999999999999999999",
    b"-1",
    b"NaN",
    b"inf",
    b"1e308",
    b"\0",
    b":",
    b")",
    b"(",
    b" kB",
    b"=",
    b"\xff\xfe",
    b"\\777",
    b"\\040",
    b" - cgroup cgroup rw,memory",
];

#[test]
fn thousands_of_mutations_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for name in CAPTURES {
        let base = data(name).into_bytes();
        for _ in 0..400 {
            let mut b = base.clone();
            for _ in 0..1 + rng.below(4) {
                let pos = rng.below(b.len() + 1);
                match rng.below(8) {
                    0 if !b.is_empty() => {
                        let i = rng.below(b.len());
                        b[i] = rng.next() as u8;
                    }
                    1 => {
                        let junk = NASTY[rng.below(NASTY.len())];
                        b.splice(pos..pos, junk.iter().copied());
                    }
                    2 if !b.is_empty() => {
                        let end = (pos + rng.below(40)).min(b.len());
                        b.drain(pos.min(end)..end);
                    }
                    3 => {
                        // duplicate a line
                        let text = String::from_utf8_lossy(&b).into_owned();
                        let lines: Vec<&str> = text.lines().collect();
                        if !lines.is_empty() {
                            let l = lines[rng.below(lines.len())].to_owned() + "\n";
                            b.splice(pos..pos, l.into_bytes());
                        }
                    }
                    4 => b
                        .splice(pos..pos, std::iter::repeat_n(b'9', rng.below(30)))
                        .for_each(drop),
                    5 => {
                        // delete the whole line around pos
                        let start = b[..pos]
                            .iter()
                            .rposition(|&c| c == b'\n')
                            .map_or(0, |i| i + 1);
                        let end = b[pos..]
                            .iter()
                            .position(|&c| c == b'\n')
                            .map_or(b.len(), |i| pos + i + 1);
                        b.drain(start..end);
                    }
                    6 => {
                        // replace the digits at pos by a huge, negative or NaN value
                        let end = b[pos..]
                            .iter()
                            .position(|c| !c.is_ascii_digit())
                            .map_or(b.len(), |i| pos + i);
                        let junk = NASTY[rng.below(4)];
                        b.splice(pos..end, junk.iter().copied());
                    }
                    _ => b.splice(pos..pos, b"\n".iter().copied()).for_each(drop),
                }
            }
            all_parsers_survive(&String::from_utf8_lossy(&b));
        }
    }
}
