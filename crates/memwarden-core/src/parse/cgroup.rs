//! cgroup files: /proc/PID/cgroup, /proc/PID/mountinfo, memory.stat and limit files.

use crate::error::{Error, Result};

/// One line of /proc/PID/cgroup: `hierarchy-ID:controller-list:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupEntry {
    pub hierarchy_id: u32,
    /// Empty for the v2 unified hierarchy ("0::/path").
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Result<Vec<CgroupEntry>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let bad = || Error::malformed("/proc/PID/cgroup", format!("line '{line}'"));
        let mut it = line.splitn(3, ':');
        let id = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let controllers = it.next().ok_or_else(bad)?;
        let path = it.next().ok_or_else(bad)?;
        if !path.starts_with('/') {
            return Err(bad());
        }
        out.push(CgroupEntry {
            hierarchy_id: id,
            controllers: controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            path: path.to_owned(),
        });
    }
    Ok(out)
}

/// A cgroup filesystem mount from /proc/PID/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// 1 for "cgroup", 2 for "cgroup2".
    pub version: u8,
    /// The cgroup path the mount shows at its mount point (field 4).
    pub root: String,
    pub mount_point: String,
    /// Super options; for v1 these name the controllers ("rw,memory").
    pub super_options: Vec<String>,
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'\\' && i + 3 < b.len())
            .then(|| &b[i + 1..i + 4])
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0')));
        // The kernel escapes only bytes (\000-\377); anything larger is literal text.
        if let Some(byte) = escaped.and_then(|v| u8::try_from(v).ok()) {
            out.push(byte);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Only cgroup and cgroup2 mounts are returned; other lines are skipped.
pub fn parse_cgroup_mounts(text: &str) -> Result<Vec<CgroupMount>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let bad = || Error::malformed("/proc/PID/mountinfo", format!("line '{line}'"));
        let (left, right) = line.split_once(" - ").ok_or_else(bad)?;
        let mut r = right.split_ascii_whitespace();
        let fstype = r.next().ok_or_else(bad)?;
        let version = match fstype {
            "cgroup" => 1,
            "cgroup2" => 2,
            _ => continue,
        };
        let _source = r.next();
        let super_options = r
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::to_owned)
            .collect();
        let l: Vec<&str> = left.split_ascii_whitespace().collect();
        if l.len() < 5 {
            return Err(bad());
        }
        out.push(CgroupMount {
            version,
            root: unescape_octal(l[3]),
            mount_point: unescape_octal(l[4]),
            super_options,
        });
    }
    Ok(out)
}

/// The counters of memory.stat that memwarden uses. v1 files have both local and
/// `total_*` (hierarchical) keys; the hierarchical ones are preferred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStat {
    pub inactive_file: u64,
    pub anon: Option<u64>,
    pub file: Option<u64>,
}

pub fn parse_memory_stat(text: &str, version: u8) -> Result<MemoryStat> {
    let mut local_inactive = None;
    let mut total_inactive = None;
    let mut st = MemoryStat::default();
    let mut any = false;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(' ') else {
            continue;
        };
        let Ok(v) = v.trim().parse::<u64>() else {
            return Err(Error::malformed("memory.stat", format!("line '{line}'")));
        };
        any = true;
        match (version, k) {
            (_, "inactive_file") => local_inactive = Some(v),
            (1, "total_inactive_file") => total_inactive = Some(v),
            (1, "total_rss") | (2, "anon") => st.anon = Some(v),
            (1, "total_cache") | (2, "file") => st.file = Some(v),
            _ => {}
        }
    }
    if !any {
        return Err(Error::malformed("memory.stat", "empty"));
    }
    st.inactive_file = total_inactive
        .or(local_inactive)
        .ok_or_else(|| Error::malformed("memory.stat", "no inactive_file counter"))?;
    Ok(st)
}

/// cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages (0x7FFFFFFFFFFFF000 with
/// 4 KiB pages); anything this large is unlimited on any page size.
const V1_UNLIMITED_FLOOR: u64 = 1 << 60;

/// A limit file (memory.max, memory.limit_in_bytes...). None = unlimited.
pub fn parse_limit(text: &str, file: &str) -> Result<Option<u64>> {
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    let v: u64 = t
        .parse()
        .map_err(|_| Error::malformed(file, format!("'{t}' is neither a number nor 'max'")))?;
    Ok((v < V1_UNLIMITED_FLOOR).then_some(v))
}

/// A counter file (memory.current, memory.usage_in_bytes...).
pub fn parse_counter(text: &str, file: &str) -> Result<u64> {
    text.trim()
        .parse()
        .map_err(|_| Error::malformed(file, format!("'{}' is not a number", text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroup_hybrid() {
        let t = "4:memory:/docker/abc\n1:name=systemd:/x\n0::/user.slice\n";
        let e = parse_proc_cgroup(t).unwrap();
        assert_eq!(e[0].controllers, ["memory"]);
        assert_eq!(e[2].controllers.len(), 0);
        assert_eq!(e[2].path, "/user.slice");
        assert!(parse_proc_cgroup("garbage").is_err());
    }

    #[test]
    fn mountinfo_escapes_and_filters() {
        let t = "35 31 0:32 /docker/abc /sys/fs/cgroup/mem\\040ory rw,relatime - cgroup cgroup rw,memory\n\
                 22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                 41 31 0:38 / /sys/fs/cgroup/unified rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        let m = parse_cgroup_mounts(t).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, "/sys/fs/cgroup/mem ory");
        assert_eq!(m[0].root, "/docker/abc");
        assert!(m[0].super_options.iter().any(|o| o == "memory"));
        assert_eq!(m[1].version, 2);
    }

    #[test]
    fn v1_prefers_hierarchical_counters() {
        let t = "inactive_file 10\ntotal_inactive_file 30\ntotal_rss 7\ntotal_cache 9\n";
        let st = parse_memory_stat(t, 1).unwrap();
        assert_eq!((st.inactive_file, st.anon, st.file), (30, Some(7), Some(9)));
        // v2 has no total_* keys; a stray one is ignored.
        assert_eq!(parse_memory_stat(t, 2).unwrap().inactive_file, 10);
    }

    #[test]
    fn memory_stat_keys_per_version_and_errors() {
        let v2 = "anon 10\nfile 20\ninactive_file 5\ntotal_rss 99\nnoise\n";
        let st = parse_memory_stat(v2, 2).unwrap();
        assert_eq!(
            (st.inactive_file, st.anon, st.file),
            (5, Some(10), Some(20))
        );
        // v1 without the hierarchical counter: the local one.
        let st = parse_memory_stat("inactive_file 7\nrss 3\n", 1).unwrap();
        assert_eq!((st.inactive_file, st.anon, st.file), (7, None, None));
        let e = |t: &str| parse_memory_stat(t, 2).unwrap_err().to_string();
        assert_eq!(e("anon x\n"), "malformed memory.stat: line 'anon x'");
        assert_eq!(e(""), "malformed memory.stat: empty");
        assert_eq!(e("nospace\n"), "malformed memory.stat: empty");
        assert_eq!(
            e("anon 1\n"),
            "malformed memory.stat: no inactive_file counter"
        );
    }

    #[test]
    fn proc_cgroup_fields_and_errors() {
        let e = parse_proc_cgroup("12:cpu,cpuacct:/a\n\n0::/\n").unwrap();
        assert_eq!(
            e,
            [
                CgroupEntry {
                    hierarchy_id: 12,
                    controllers: vec!["cpu".into(), "cpuacct".into()],
                    path: "/a".into(),
                },
                CgroupEntry {
                    hierarchy_id: 0,
                    controllers: vec![],
                    path: "/".into(),
                },
            ]
        );
        // A path with ':' in it is kept whole.
        assert_eq!(parse_proc_cgroup("0::/a:b\n").unwrap()[0].path, "/a:b");
        for bad in ["x::/a", "1:memory", "1:memory:relative"] {
            assert_eq!(
                parse_proc_cgroup(bad).unwrap_err().to_string(),
                format!("malformed /proc/PID/cgroup: line '{bad}'")
            );
        }
    }

    #[test]
    fn mountinfo_escape_above_a_byte_is_literal() {
        // Found by fuzz_cgroup: "\\777" overflowed a u8.
        assert_eq!(unescape_octal("a\\777b"), "a\\777b");
        assert_eq!(unescape_octal("a\\040b\\134"), "a b\\");
        let crash = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz_cgroup_crash_octal"
        ))
        .unwrap();
        let _ = parse_cgroup_mounts(&String::from_utf8_lossy(&crash));
    }

    #[test]
    fn only_a_backslash_and_three_octal_digits_are_an_escape() {
        // Digits without a backslash are text.
        assert_eq!(unescape_octal("a040b"), "a040b");
        // An escape that ends the field, and one cut short by the end.
        assert_eq!(unescape_octal("x\\040"), "x ");
        assert_eq!(unescape_octal("x\\04"), "x\\04");
        assert_eq!(unescape_octal("\\"), "\\");
        // 8 and 9 are not octal digits.
        assert_eq!(unescape_octal("a\\089"), "a\\089");
    }

    #[test]
    fn mountinfo_needs_five_fields_before_the_separator() {
        // The fewest fields a line may have: ID, parent, dev, root, mount point.
        let m = parse_cgroup_mounts("35 31 0:32 /a /sys/fs/cgroup - cgroup2 cgroup2 rw\n").unwrap();
        assert_eq!(
            m,
            [CgroupMount {
                version: 2,
                root: "/a".into(),
                mount_point: "/sys/fs/cgroup".into(),
                super_options: vec!["rw".into()],
            }]
        );
        let e = parse_cgroup_mounts("35 31 0:32 /a - cgroup2 cgroup2 rw\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "malformed /proc/PID/mountinfo: line '35 31 0:32 /a - cgroup2 cgroup2 rw'"
        );
        assert!(
            parse_cgroup_mounts("35 31 0:32 / /x rw\n").is_err(),
            "no separator"
        );
        // A cgroup2 line without super options: none.
        let m = parse_cgroup_mounts("1 2 0:3 / /c rw - cgroup2\n").unwrap();
        assert_eq!(m[0].super_options, [""]);
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("max\n", "f").unwrap(), None);
        assert_eq!(parse_limit("9223372036854771712\n", "f").unwrap(), None);
        assert_eq!(parse_limit("536870912\n", "f").unwrap(), Some(512 << 20));
        // v1's "unlimited" starts at 2^60 bytes, whatever the page size.
        assert_eq!(parse_limit(&format!("{}", 1u64 << 60), "f").unwrap(), None);
        assert_eq!(
            parse_limit(&format!("{}", (1u64 << 60) - 1), "f").unwrap(),
            Some((1 << 60) - 1)
        );
        assert_eq!(
            parse_limit(" lots ", "memory.max").unwrap_err().to_string(),
            "malformed memory.max: 'lots' is neither a number nor 'max'"
        );
        assert_eq!(parse_counter(" 42\n", "f").unwrap(), 42);
        assert_eq!(
            parse_counter("max\n", "memory.current")
                .unwrap_err()
                .to_string(),
            "malformed memory.current: 'max' is not a number"
        );
        assert!(parse_limit("-1", "f").is_err());
    }
}
