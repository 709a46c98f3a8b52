//! Per-process files: status, statm, stat, cmdline, maps, smaps_rollup.

use crate::error::{Error, Result};

use super::kv_kb_line;

/// Fields of /proc/PID/status that memwarden uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcStatus {
    pub name: String,
    pub state: char,
    pub vm_size: u64,
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub rss_shmem: u64,
    pub vm_swap: u64,
    /// False for kernel threads and zombies, which have no Vm* lines.
    pub has_mm: bool,
    /// NSpid: the PID in each nested PID namespace, outermost first.
    pub ns_pids: Vec<u32>,
    /// CapEff bitmask.
    pub cap_eff: u64,
    /// `Kthread: 1` (kernel >= 6.4); None on older kernels.
    pub kthread: Option<bool>,
}

pub fn parse_status(text: &str) -> Result<ProcStatus> {
    let mut s = ProcStatus::default();
    let mut have_name = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Name" => {
                s.name = rest.trim().to_owned();
                have_name = true;
            }
            "State" => s.state = rest.trim().chars().next().unwrap_or('?'),
            "NSpid" => {
                s.ns_pids = rest
                    .split_ascii_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            }
            "CapEff" => s.cap_eff = u64::from_str_radix(rest.trim(), 16).unwrap_or(0),
            "Kthread" => s.kthread = Some(rest.trim() == "1"),
            _ => {
                if let Some((k, v)) = kv_kb_line(line) {
                    match k {
                        "VmSize" => s.vm_size = v,
                        "VmRSS" => {
                            s.vm_rss = v;
                            s.has_mm = true;
                        }
                        "RssAnon" => s.rss_anon = v,
                        "RssFile" => s.rss_file = v,
                        "RssShmem" => s.rss_shmem = v,
                        "VmSwap" => s.vm_swap = v,
                        _ => {}
                    }
                }
            }
        }
    }
    if !have_name {
        return Err(Error::malformed("/proc/PID/status", "no Name line"));
    }
    Ok(s)
}

/// /proc/PID/statm: (size, resident, shared) in pages.
pub fn parse_statm(text: &str) -> Result<(u64, u64, u64)> {
    let mut it = text.split_ascii_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(size)), Some(Ok(resident)), Some(Ok(shared))) => Ok((size, resident, shared)),
        _ => Err(Error::malformed(
            "/proc/PID/statm",
            "expected 3+ page counts",
        )),
    }
}

/// Fields of /proc/PID/stat that memwarden uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    pub flags: u32,
    /// Start time in clock ticks after boot: with the PID, identifies a process
    /// across PID reuse.
    pub starttime: u64,
}

/// The kernel's PF_KTHREAD flag (include/linux/sched.h).
pub const PF_KTHREAD: u32 = 0x0020_0000;

impl ProcStat {
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

pub fn parse_stat(text: &str) -> Result<ProcStat> {
    let bad = |d: &str| Error::malformed("/proc/PID/stat", d);
    // comm may contain spaces and ')', so split at the *last* ')'.
    let open = text.find('(').ok_or_else(|| bad("no '('"))?;
    let close = text.rfind(')').ok_or_else(|| bad("no ')'"))?;
    if close < open {
        return Err(bad("')' before '('"));
    }
    let comm = text[open + 1..close].to_owned();
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    if rest.len() < 20 {
        return Err(bad("fewer than 22 fields"));
    }
    let num = |i: usize| -> Result<u64> {
        rest[i]
            .parse()
            .map_err(|_| bad(&format!("field {} is not a number", i + 3)))
    };
    Ok(ProcStat {
        comm,
        state: rest[0].chars().next().unwrap_or('?'),
        ppid: num(1)? as u32,
        flags: num(6)? as u32,
        starttime: num(19)?,
    })
}

/// NUL-separated argv -> space-joined string.
/// The command line as one printable line: arguments joined by spaces, and control
/// characters (a newline inside an argument would break a table) shown as `?`, as
/// `ps` does.
pub fn parse_cmdline(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    String::from_utf8_lossy(trimmed)
        .chars()
        .map(|c| match c {
            '\0' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// The argument vector, unaltered (lossy UTF-8 only).
pub fn split_cmdline(raw: &[u8]) -> Vec<String> {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// One line of /proc/PID/maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    pub private: bool,
    pub path: String,
}

impl MapsEntry {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Writable private memory that is not a kernel/device special mapping:
    /// what MADV_PAGEOUT can move to swap.
    pub fn is_pageout_candidate(&self) -> bool {
        self.writable
            && self.private
            && !self.is_empty()
            && !self.path.starts_with("/dev/")
            && !matches!(
                self.path.as_str(),
                "[vsyscall]" | "[vvar]" | "[vdso]" | "[vvar_vclock]"
            )
    }
}

pub fn parse_maps(text: &str) -> Result<Vec<MapsEntry>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || Error::malformed("/proc/PID/maps", format!("line {}: '{line}'", n + 1));
        let mut it = line.splitn(6, ' ');
        let range = it.next().ok_or_else(bad)?;
        let perms = it.next().ok_or_else(bad)?.as_bytes();
        let (_off, _dev, _inode) = (it.next(), it.next(), it.next().ok_or_else(bad)?);
        let path = it.next().unwrap_or("").trim_start().to_owned();
        let (s, e) = range.split_once('-').ok_or_else(bad)?;
        let start = u64::from_str_radix(s, 16).map_err(|_| bad())?;
        let end = u64::from_str_radix(e, 16).map_err(|_| bad())?;
        if end < start || perms.len() != 4 {
            return Err(bad());
        }
        out.push(MapsEntry {
            start,
            end,
            readable: perms[0] == b'r',
            writable: perms[1] == b'w',
            private: perms[3] == b'p',
            path,
        });
    }
    Ok(out)
}

/// Totals of /proc/PID/smaps_rollup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmapsRollup {
    pub rss: u64,
    pub pss: u64,
    pub uss: u64,
    pub swap: u64,
    pub swap_pss: u64,
}

pub fn parse_smaps_rollup(text: &str) -> Result<SmapsRollup> {
    let mut r = SmapsRollup::default();
    let (mut have_rss, mut have_pss) = (false, false);
    for line in text.lines() {
        let Some((k, v)) = kv_kb_line(line) else {
            continue;
        };
        match k {
            "Rss" => {
                r.rss = v;
                have_rss = true;
            }
            "Pss" => {
                r.pss = v;
                have_pss = true;
            }
            // USS as psutil defines it: pages mapped by this process alone.
            "Private_Clean" | "Private_Dirty" | "Private_Hugetlb" => {
                r.uss = r.uss.saturating_add(v)
            }
            "Swap" => r.swap = v,
            "SwapPss" => r.swap_pss = v,
            _ => {}
        }
    }
    if !(have_rss && have_pss) {
        return Err(Error::malformed(
            "/proc/PID/smaps_rollup",
            "no Rss/Pss lines",
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parens_in_comm() {
        let t = "42 (a) b (c)) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n";
        let s = parse_stat(t).unwrap();
        assert_eq!(s.comm, "a) b (c)");
        assert_eq!(s.ppid, 1);
        assert_eq!(s.starttime, 777);
        assert!(!s.is_kernel_thread());
    }

    #[test]
    fn kernel_thread_flag() {
        let t = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0\n";
        assert!(parse_stat(t).unwrap().is_kernel_thread());
    }

    #[test]
    fn maps_candidates() {
        let t = "55d0-55e0 rw-p 00000000 00:00 0 [heap]\n\
                 7f00-7f10 r--p 00000000 08:01 12 /usr/lib/libc.so.6\n\
                 7f20-7f30 rw-s 00000000 00:05 3 /dev/shm/x\n\
                 7f40-7f50 rw-p 00000000 00:05 4 /dev/nvidia0\n\
                 ffff-10000 --xp 00000000 00:00 0 [vsyscall]\n\
                 7f60-7f70 rw-p 00000000 00:00 0 \n";
        let m = parse_maps(t).unwrap();
        let c: Vec<bool> = m.iter().map(MapsEntry::is_pageout_candidate).collect();
        assert_eq!(c, [true, false, false, false, false, true]);
        assert!(parse_maps("zz-yy rw-p 0 0 0\n").is_err());
    }

    #[test]
    fn cmdline_joins_args() {
        assert_eq!(
            parse_cmdline(b"python\0main.py\0--cpu\0"),
            "python main.py --cpu"
        );
        assert_eq!(parse_cmdline(b""), "");
        assert_eq!(parse_cmdline(b"sh\0-c\0echo a\nb\tc\0"), "sh -c echo a?b?c");
        assert_eq!(
            split_cmdline(b"sh\0-c\0echo a\nb\0"),
            ["sh", "-c", "echo a\nb"]
        );
        assert!(split_cmdline(b"").is_empty());
    }

    #[test]
    fn status_fields() {
        let t = "Name:\tpython3 main\nUmask:\t0022\nState:\tS (sleeping)\nNSpid:\t812\t7\n\
                 VmSize:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t   600 kB\nRssFile:\t   400 kB\n\
                 RssShmem:\t    24 kB\nVmSwap:\t    12 kB\nCapEff:\t0000000000800000\nKthread:\t0\n";
        let s = parse_status(t).unwrap();
        assert_eq!(
            s,
            ProcStatus {
                name: "python3 main".into(),
                state: 'S',
                vm_size: 2048 * 1024,
                vm_rss: 1024 * 1024,
                rss_anon: 600 * 1024,
                rss_file: 400 * 1024,
                rss_shmem: 24 * 1024,
                vm_swap: 12 * 1024,
                has_mm: true,
                ns_pids: vec![812, 7],
                cap_eff: 1 << 23,
                kthread: Some(false),
            }
        );
        // A kernel thread: no Vm* lines, Kthread 1; an older kernel has no Kthread.
        let k = parse_status("Name:\tkthreadd\nState:\tS (sleeping)\nKthread:\t1\n").unwrap();
        assert_eq!((k.has_mm, k.kthread, k.vm_rss), (false, Some(true), 0));
        let z = parse_status("Name:\tz\nState:\tZ (zombie)\nCapEff:\tnothex\n").unwrap();
        assert_eq!((z.state, z.kthread, z.cap_eff), ('Z', None, 0));
        assert_eq!(
            parse_status("State:\tR\n").unwrap_err().to_string(),
            "malformed /proc/PID/status: no Name line"
        );
    }

    #[test]
    fn statm_needs_three_counts() {
        assert_eq!(parse_statm("10 20 30 0 0 5 0\n").unwrap(), (10, 20, 30));
        assert_eq!(parse_statm("10 20 30").unwrap(), (10, 20, 30));
        for bad in ["10 20", "10 x 30", ""] {
            assert_eq!(
                parse_statm(bad).unwrap_err().to_string(),
                "malformed /proc/PID/statm: expected 3+ page counts",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stat_fields_and_errors() {
        let t = "42 (a b) R 7 42 42 0 -1 64 1 0 0 0 0 0 0 0 20 0 1 0 999 0 0\n";
        let s = parse_stat(t).unwrap();
        assert_eq!(
            s,
            ProcStat {
                comm: "a b".into(),
                state: 'R',
                ppid: 7,
                flags: 64,
                starttime: 999,
            }
        );
        // Exactly 20 fields after the name are enough (starttime is the 20th).
        let twenty = "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5\n";
        assert_eq!(parse_stat(twenty).unwrap().starttime, 5);
        let e = |t: &str| parse_stat(t).unwrap_err().to_string();
        assert_eq!(
            e("1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n"),
            "malformed /proc/PID/stat: fewer than 22 fields"
        );
        assert_eq!(e("1 x) S"), "malformed /proc/PID/stat: no '('");
        assert_eq!(e("1 (x S"), "malformed /proc/PID/stat: no ')'");
        assert_eq!(e("1 )x( S"), "malformed /proc/PID/stat: ')' before '('");
        assert_eq!(
            e("1 (x) S p 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5\n"),
            "malformed /proc/PID/stat: field 4 is not a number"
        );
        // A flags word with other bits but not PF_KTHREAD.
        let mut st = s;
        st.flags = !PF_KTHREAD;
        assert!(!st.is_kernel_thread());
        st.flags = PF_KTHREAD;
        assert!(st.is_kernel_thread());
    }

    #[test]
    fn maps_fields_lengths_and_errors() {
        let t = "1000-3000 r-xs 00000000 08:01 12    /usr/lib/with space.so\n\n\
                 4000-4000 rw-p 00000000 00:00 0\n";
        let m = parse_maps(t).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            MapsEntry {
                start: 0x1000,
                end: 0x3000,
                readable: true,
                writable: false,
                private: false,
                path: "/usr/lib/with space.so".into(),
            }
        );
        assert_eq!((m[0].len(), m[0].is_empty()), (0x2000, false));
        // Empty (start == end): never a candidate, even writable and private.
        assert_eq!((m[1].len(), m[1].is_empty()), (0, true));
        assert!(m[1].writable && m[1].private && m[1].path.is_empty());
        assert!(!m[1].is_pageout_candidate());
        // Writable but shared, or private but read-only: not candidates either.
        let one = |perms: &str, path: &str| {
            parse_maps(&format!("1000-2000 {perms} 0 00:00 0 {path}\n")).unwrap()[0]
                .is_pageout_candidate()
        };
        assert!(one("rw-p", ""));
        assert!(!one("rw-s", ""));
        assert!(!one("r--p", ""));
        for special in ["[vvar]", "[vdso]", "[vvar_vclock]", "/dev/zero"] {
            assert!(!one("rw-p", special), "{special}");
        }
        assert!(one("rw-p", "[stack]"));
        let e = |t: &str| parse_maps(t).unwrap_err().to_string();
        assert_eq!(
            e("3000-1000 rw-p 0 00:00 0\n"),
            "malformed /proc/PID/maps: line 1: '3000-1000 rw-p 0 00:00 0'"
        );
        assert!(e("1000-2000 rw- 0 00:00 0\n").contains("line 1"));
        assert!(e("1000-2000 rw-pp 0 00:00 0\n").contains("line 1"));
        assert!(e("1000-2000 rw-p 0 00:00\n").contains("line 1"));
        assert!(e("\n10002000 rw-p 0 00:00 0\n").contains("line 2"));
        assert!(e("1000-2000\n").contains("line 1"));
        assert!(e("1000-zz rw-p 0 00:00 0\n").contains("line 1"));
    }

    #[test]
    fn smaps_rollup_totals() {
        let t = "55d0-7fff ---p 00000000 00:00 0 [rollup]\nRss:  1000 kB\nPss:  700 kB\n\
                 Shared_Clean:  100 kB\nPrivate_Clean:  200 kB\nPrivate_Dirty:  300 kB\n\
                 Private_Hugetlb:  8 kB\nSwap:  50 kB\nSwapPss:  40 kB\n";
        let r = parse_smaps_rollup(t).unwrap();
        assert_eq!(
            r,
            SmapsRollup {
                rss: 1000 * 1024,
                pss: 700 * 1024,
                uss: 508 * 1024,
                swap: 50 * 1024,
                swap_pss: 40 * 1024,
            }
        );
        for bad in ["Rss: 1 kB\n", "Pss: 1 kB\n", ""] {
            assert_eq!(
                parse_smaps_rollup(bad).unwrap_err().to_string(),
                "malformed /proc/PID/smaps_rollup: no Rss/Pss lines"
            );
        }
    }

    #[test]
    fn cmdline_keeps_a_last_empty_argument_and_its_nuls() {
        // Only the one terminating NUL goes: an empty last argument stays.
        assert_eq!(split_cmdline(b"a\0\0"), ["a", ""]);
        assert_eq!(split_cmdline(b"a"), ["a"]);
        assert_eq!(parse_cmdline(b"a\0\0"), "a ");
        assert_eq!(parse_cmdline(b"a\0b"), "a b");
    }
}
