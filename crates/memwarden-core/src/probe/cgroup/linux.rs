//! Container detection and the memory cgroup of a process (v1 and v2).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::{CgroupLocation, CgroupMemory, ContainerRuntime};
use crate::parse::cgroup::{
    parse_cgroup_mounts, parse_counter, parse_limit, parse_memory_stat, parse_proc_cgroup,
    CgroupMount, MemoryStat,
};

use crate::sys::linux::fs::{proc_err, read_text};

/// Best guess of the container runtime, with the evidence for it. The most specific
/// runtime wins (Runpod runs on Docker, Kubernetes on containerd...).
pub fn detect_container() -> (Option<ContainerRuntime>, Vec<String>) {
    let mut found: Vec<(ContainerRuntime, String)> = Vec::new();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if env("RUNPOD_POD_ID").is_some() {
        found.push((ContainerRuntime::Runpod, "RUNPOD_POD_ID is set".into()));
    }
    if env("KUBERNETES_SERVICE_HOST").is_some() {
        found.push((
            ContainerRuntime::Kubernetes,
            "KUBERNETES_SERVICE_HOST is set".into(),
        ));
    }
    if Path::new("/var/run/secrets/kubernetes.io").exists() {
        found.push((
            ContainerRuntime::Kubernetes,
            "/var/run/secrets/kubernetes.io exists".into(),
        ));
    }
    if Path::new("/run/.containerenv").exists() {
        found.push((ContainerRuntime::Podman, "/run/.containerenv exists".into()));
    }
    if Path::new("/.dockerenv").exists() {
        found.push((ContainerRuntime::Docker, "/.dockerenv exists".into()));
    }
    if let Some(c) = env("container") {
        let rt = match c.as_str() {
            "docker" => ContainerRuntime::Docker,
            "podman" => ContainerRuntime::Podman,
            "lxc" | "lxc-libvirt" => ContainerRuntime::Lxc,
            _ => ContainerRuntime::Other,
        };
        found.push((rt, format!("container={c} is set")));
    }
    if let Ok(cg) = read_text("/proc/self/cgroup") {
        for (needle, rt) in [
            ("/kubepods", ContainerRuntime::Kubernetes),
            ("libpod", ContainerRuntime::Podman),
            ("/docker", ContainerRuntime::Docker),
            ("/lxc", ContainerRuntime::Lxc),
            ("containerd", ContainerRuntime::Containerd),
        ] {
            if cg.contains(needle) {
                found.push((rt, format!("/proc/self/cgroup mentions '{needle}'")));
                break;
            }
        }
    }
    if let Ok(rel) = read_text("/proc/sys/kernel/osrelease") {
        let lower = rel.to_ascii_lowercase();
        if lower.contains("microsoft") || lower.contains("wsl") {
            found.push((
                ContainerRuntime::Wsl,
                format!("kernel release '{}'", rel.trim()),
            ));
        }
    }
    let rank = |r: &ContainerRuntime| match r {
        ContainerRuntime::Runpod => 0,
        ContainerRuntime::Kubernetes => 1,
        ContainerRuntime::Podman => 2,
        ContainerRuntime::Docker => 3,
        ContainerRuntime::Lxc => 4,
        ContainerRuntime::Containerd => 5,
        ContainerRuntime::Wsl => 6,
        ContainerRuntime::Other => 7,
    };
    let runtime = found.iter().map(|(r, _)| *r).min_by_key(rank);
    (runtime, found.into_iter().map(|(_, e)| e).collect())
}

/// The directory of cgroup `path` under `mount`, or None when it is not visible
/// from here. A path with `..` lies outside this cgroup namespace (another
/// container's process seen from inside one). A directory that does not exist is
/// not visible either, except for our own process, whose group is what the mount
/// shows in containers that mount their own cgroup at the mount point.
fn resolve(mount: &CgroupMount, path: &str, own: bool) -> Option<PathBuf> {
    let mp = PathBuf::from(&mount.mount_point);
    if path.split('/').any(|c| c == "..") {
        return None;
    }
    let root = mount.root.trim_end_matches('/');
    // In a container without a cgroup namespace the mount shows the container's own
    // cgroup at its mount point (root = /docker/ID) while /proc/PID/cgroup lists the
    // full path: strip the mount's root.
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .trim_start_matches('/');
    let dir = mp.join(rel);
    if dir.is_dir() {
        Some(dir)
    } else {
        own.then_some(mp)
    }
}

fn not_visible(pid: u32, path: &str) -> Error {
    Error::Unsupported(format!(
        "the memory cgroup of PID {pid} ({path}) is not visible from here (outside this \
         cgroup namespace or this container's cgroup mount): no container figures for it"
    ))
}

/// Locate the memory cgroup of `pid` (v1 memory controller, else v2 with the memory
/// controller enabled). None when no memory cgroup is mounted.
pub fn locate_cgroup(pid: u32) -> Result<Option<CgroupLocation>> {
    let cg_text =
        read_text(format!("/proc/{pid}/cgroup")).map_err(|e| proc_err(pid, "cgroup", e))?;
    let entries = parse_proc_cgroup(&cg_text)?;
    let mounts = parse_cgroup_mounts(&read_text("/proc/self/mountinfo").unwrap_or_default())?;

    let v2_entry = entries
        .iter()
        .find(|e| e.hierarchy_id == 0 && e.controllers.is_empty());
    let v2_mount = mounts.iter().find(|m| m.version == 2);
    let own = pid == std::process::id();
    let v2_dir = match (v2_entry, v2_mount) {
        (Some(e), Some(m)) => resolve(m, &e.path, own),
        _ => None,
    };
    let pressure_file = v2_dir
        .as_ref()
        .map(|d| d.join("memory.pressure"))
        .filter(|p| p.exists());

    let v1_entry = entries
        .iter()
        .find(|e| e.controllers.iter().any(|c| c == "memory"));
    let v1_mount = mounts
        .iter()
        .find(|m| m.version == 1 && m.super_options.iter().any(|o| o == "memory"));
    if let (Some(e), Some(m)) = (v1_entry, v1_mount) {
        let dir = resolve(m, &e.path, own).ok_or_else(|| not_visible(pid, &e.path))?;
        return Ok(Some(CgroupLocation {
            version: 1,
            path: e.path.clone(),
            dir,
            mount_point: PathBuf::from(&m.mount_point),
            pressure_file,
        }));
    }
    if let (Some(e), Some(_), None) = (v2_entry, v2_mount, &v2_dir) {
        // A v2 group that exists but cannot be seen: say so rather than guess.
        let root = v2_mount.map(|m| Path::new(&m.mount_point).join("memory.stat"));
        if root.is_some_and(|r| r.exists()) {
            return Err(not_visible(pid, &e.path));
        }
    }
    if let (Some(e), Some(m), Some(dir)) = (v2_entry, v2_mount, v2_dir) {
        // The root cgroup has no memory.current; any other v2 group has it only when
        // the memory controller is enabled for it.
        let root = Path::new(&m.mount_point);
        if dir.join("memory.current").exists() || (dir == root && root.join("memory.stat").exists())
        {
            return Ok(Some(CgroupLocation {
                version: 2,
                path: e.path.clone(),
                dir,
                mount_point: PathBuf::from(&m.mount_point),
                pressure_file,
            }));
        }
    }
    Ok(None)
}

/// Directories from `dir` up to the mount point, leaf first.
fn ancestors(loc: &CgroupLocation) -> Vec<PathBuf> {
    loc.dir
        .ancestors()
        .take_while(|p| p.starts_with(&loc.mount_point))
        .map(Path::to_path_buf)
        .collect()
}

fn read_limit(dir: &Path, file: &str) -> Result<Option<u64>> {
    let p = dir.join(file);
    match read_text(&p) {
        Ok(t) => parse_limit(&t, &p.display().to_string()),
        Err(_) => Ok(None), // the root group has no limit files
    }
}

fn read_counter(dir: &Path, file: &str) -> Result<Option<u64>> {
    let p = dir.join(file);
    match read_text(&p) {
        Ok(t) => parse_counter(&t, &p.display().to_string()).map(Some),
        Err(_) => Ok(None),
    }
}

/// The group on the path to the root whose limit binds: among the ancestors (leaf
/// included) that set `limit_file`, the one with the least headroom (limit minus
/// its own `usage_file`). That is where the kernel will reclaim or OOM first, and
/// the usage that goes with the limit must be read there too: a parent limited to
/// 2 GiB that holds 800 MiB of siblings is what a leaf group's process can still
/// use, not the leaf's own near-zero usage. Ties go to the deeper group.
#[derive(Debug, Clone)]
struct Binding {
    limit: u64,
    usage: Option<u64>,
    dir: PathBuf,
}

fn binding(loc: &CgroupLocation, limit_file: &str, usage_file: &str) -> Result<Option<Binding>> {
    let mut best: Option<Binding> = None;
    for d in ancestors(loc) {
        let Some(limit) = read_limit(&d, limit_file)? else {
            continue;
        };
        let usage = read_counter(&d, usage_file)?;
        let headroom = limit.saturating_sub(usage.unwrap_or(0));
        if best
            .as_ref()
            .is_none_or(|b| headroom < b.limit.saturating_sub(b.usage.unwrap_or(0)))
        {
            best = Some(Binding {
                limit,
                usage,
                dir: d,
            });
        }
    }
    Ok(best)
}

/// Tightest value of `file` along the path (memory.high: the lowest throttles first).
fn tightest(loc: &CgroupLocation, file: &str) -> Result<Option<u64>> {
    let mut best: Option<u64> = None;
    for d in ancestors(loc) {
        if let Some(v) = read_limit(&d, file)? {
            best = Some(best.map_or(v, |b| b.min(v)));
        }
    }
    Ok(best)
}

fn read_stat_into(m: &mut CgroupMemory, dir: &Path, version: u8) -> Result<Option<MemoryStat>> {
    let stat_path = dir.join("memory.stat");
    let stat = match read_text(&stat_path) {
        Ok(t) => Some(parse_memory_stat(&t, version)?),
        Err(_) => None,
    };
    if let Some(st) = stat {
        m.inactive_file_bytes = st.inactive_file;
        m.anon_bytes = st.anon;
        m.file_bytes = st.file;
    }
    Ok(stat)
}

/// The memory cgroup of `pid`. Every figure that is compared with a limit comes
/// from the group that sets that limit ([`binding`]): usage, working set and
/// memory.stat from the memory limit's group, swap usage from the swap limit's
/// group, and the location's `pressure_file` moves to the memory limit's group when
/// that group has its own memory.pressure.
pub fn read_cgroup(pid: u32) -> Result<Option<(CgroupMemory, CgroupLocation)>> {
    let Some(mut loc) = locate_cgroup(pid)? else {
        return Ok(None);
    };
    let mut m = CgroupMemory {
        version: loc.version,
        path: loc.path.clone(),
        dir: loc.dir.display().to_string(),
        ..Default::default()
    };
    let (usage_file, limit_file) = usage_and_limit_files(loc.version);
    let limit = binding(&loc, limit_file, usage_file)?;
    let figures_dir = limit.as_ref().map_or(loc.dir.clone(), |b| b.dir.clone());
    let stat = read_stat_into(&mut m, &figures_dir, loc.version)?;
    m.usage_bytes = match &limit {
        Some(b) => b.usage,
        None => read_counter(&figures_dir, usage_file)?,
    }
    .or_else(|| {
        // The v2 root has no memory.current: derive from memory.stat.
        stat.and_then(|s| Some(s.anon? + s.file?))
    })
    .unwrap_or(0);
    if let Some(b) = &limit {
        m.limit_bytes = Some(b.limit);
        m.limit_set_at = Some(b.dir.display().to_string());
    }
    if loc.version == 1 {
        read_v1_swap(&mut m, &loc, limit.as_ref(), &figures_dir)?;
    } else {
        read_v2_extra(&mut m, &mut loc, &figures_dir)?;
    }
    m.working_set_bytes = m.usage_bytes.saturating_sub(m.inactive_file_bytes);
    Ok(Some((m, loc)))
}

fn usage_and_limit_files(version: u8) -> (&'static str, &'static str) {
    if version == 1 {
        ("memory.usage_in_bytes", "memory.limit_in_bytes")
    } else {
        ("memory.current", "memory.max")
    }
}

/// v1: memsw counts memory + swap. The swap allowance is what memsw leaves above
/// the memory limit, and swap in use is memsw usage minus memory usage, both read
/// in the group whose memsw limit binds.
fn read_v1_swap(
    m: &mut CgroupMemory,
    loc: &CgroupLocation,
    limit: Option<&Binding>,
    figures_dir: &Path,
) -> Result<()> {
    let memsw = binding(
        loc,
        "memory.memsw.limit_in_bytes",
        "memory.memsw.usage_in_bytes",
    )?;
    let swap_dir = memsw
        .as_ref()
        .map_or(figures_dir.to_path_buf(), |b| b.dir.clone());
    if let (Some(l), Some(sw)) = (limit, &memsw) {
        m.swap_limit_bytes = Some(sw.limit.saturating_sub(l.limit));
        m.swap_limit_set_at = Some(sw.dir.display().to_string());
    }
    let memsw_usage = match &memsw {
        Some(b) => b.usage,
        None => read_counter(&swap_dir, "memory.memsw.usage_in_bytes")?,
    };
    if let Some(u) = memsw_usage {
        // The memory usage of that group: already read when it is the memory
        // limit's group too (the usual case), read once more otherwise.
        let mem = if swap_dir == figures_dir {
            m.usage_bytes
        } else {
            read_counter(&swap_dir, "memory.usage_in_bytes")?.unwrap_or(m.usage_bytes)
        };
        m.swap_usage_bytes = Some(u.saturating_sub(mem));
    }
    Ok(())
}

/// v2: memory.high, the swap allowance and usage (memory.swap.max/current), and
/// the limit's group's memory.pressure.
fn read_v2_extra(m: &mut CgroupMemory, loc: &mut CgroupLocation, figures_dir: &Path) -> Result<()> {
    m.high_bytes = tightest(loc, "memory.high")?;
    match binding(loc, "memory.swap.max", "memory.swap.current")? {
        Some(b) => {
            m.swap_limit_bytes = Some(b.limit);
            m.swap_limit_set_at = Some(b.dir.display().to_string());
            m.swap_usage_bytes = b.usage;
        }
        None => m.swap_usage_bytes = read_counter(figures_dir, "memory.swap.current")?,
    }
    let p = figures_dir.join("memory.pressure");
    if figures_dir != loc.dir && p.exists() {
        loc.pressure_file = Some(p);
    }
    Ok(())
}

/// Memory charged to the group at `loc` now.
pub fn usage(loc: &CgroupLocation) -> Result<u64> {
    let file = loc.dir.join(usage_and_limit_files(loc.version).0);
    let t =
        read_text(&file).map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
    parse_counter(&t, &file.display().to_string())
}

/// Every PID in the cgroup at `loc` and its descendants (the container's processes).
pub fn cgroup_pids(loc: &CgroupLocation) -> HashSet<u32> {
    fn walk(dir: &Path, out: &mut HashSet<u32>, depth: usize) {
        if let Ok(t) = read_text(dir.join("cgroup.procs")) {
            out.extend(t.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if depth > 32 {
            return;
        }
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out, depth + 1);
                }
            }
        }
    }
    let mut out = HashSet::new();
    walk(&loc.dir, &mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::swap::usable_swap;

    const MIB: u64 = 1 << 20;

    /// A cgroup tree of plain files under the temp directory: the mount point and
    /// the groups `groups` below it, each with the files given, removed on drop.
    struct Tree {
        mount: PathBuf,
    }

    impl Tree {
        fn new(name: &str, groups: &[(&str, &[(&str, String)])]) -> Self {
            let mount = std::env::temp_dir().join(format!(
                "memwarden-cgroup-test-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&mount);
            for (group, files) in groups {
                let dir = mount.join(group.trim_start_matches('/'));
                std::fs::create_dir_all(&dir).unwrap();
                for (file, text) in *files {
                    std::fs::write(dir.join(file), text).unwrap();
                }
            }
            Tree { mount }
        }

        /// The location of `group` (v2 unless `version` says otherwise).
        fn loc(&self, group: &str, version: u8) -> CgroupLocation {
            CgroupLocation {
                version,
                path: group.into(),
                dir: self.mount.join(group.trim_start_matches('/')),
                mount_point: self.mount.clone(),
                pressure_file: None,
            }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.mount);
        }
    }

    fn n(v: u64) -> String {
        format!("{v}\n")
    }

    #[test]
    fn memory_high_is_the_lowest_along_the_path() {
        // The parent throttles at 200 MiB, the leaf would only at 400 MiB: 200 MiB.
        let t = Tree::new(
            "high-parent",
            &[
                ("/", &[("memory.stat", "anon 0\n".into())]),
                ("/app", &[("memory.high", n(200 * MIB))]),
                ("/app/leaf", &[("memory.high", n(400 * MIB))]),
            ],
        );
        let loc = t.loc("/app/leaf", 2);
        assert_eq!(tightest(&loc, "memory.high").unwrap(), Some(200 * MIB));
        // The leaf lower than its parent: the leaf's.
        std::fs::write(t.mount.join("app/leaf/memory.high"), n(100 * MIB)).unwrap();
        assert_eq!(tightest(&loc, "memory.high").unwrap(), Some(100 * MIB));
        // "max" sets nothing, and a group above the mount point is not read.
        std::fs::write(t.mount.join("app/leaf/memory.high"), "max\n").unwrap();
        assert_eq!(tightest(&loc, "memory.high").unwrap(), Some(200 * MIB));
        std::fs::write(t.mount.join("app/memory.high"), "max\n").unwrap();
        assert_eq!(tightest(&loc, "memory.high").unwrap(), None);
        // A file that is neither a number nor "max" is an error naming it.
        std::fs::write(t.mount.join("app/memory.high"), "lots\n").unwrap();
        let e = tightest(&loc, "memory.high").unwrap_err().to_string();
        assert!(e.contains("app/memory.high") && e.contains("'lots'"), "{e}");
    }

    #[test]
    fn the_limit_with_the_least_headroom_binds_and_brings_its_usage() {
        // app: 300 MiB with 250 MiB used (50 left); app/leaf: 1 GiB with 10 MiB used.
        let t = Tree::new(
            "binding",
            &[
                (
                    "/app",
                    &[
                        ("memory.max", n(300 * MIB)),
                        ("memory.current", n(250 * MIB)),
                    ],
                ),
                (
                    "/app/leaf",
                    &[
                        ("memory.max", n(1024 * MIB)),
                        ("memory.current", n(10 * MIB)),
                    ],
                ),
            ],
        );
        let loc = t.loc("/app/leaf", 2);
        let b = binding(&loc, "memory.max", "memory.current")
            .unwrap()
            .unwrap();
        assert_eq!((b.limit, b.usage), (300 * MIB, Some(250 * MIB)));
        assert_eq!(b.dir, t.mount.join("app"));
        // The same headroom in both: the deeper group.
        std::fs::write(t.mount.join("app/leaf/memory.max"), n(60 * MIB)).unwrap();
        let b = binding(&loc, "memory.max", "memory.current")
            .unwrap()
            .unwrap();
        assert_eq!((b.limit, b.dir.clone()), (60 * MIB, loc.dir.clone()));
        // One byte more headroom in the leaf: the parent.
        std::fs::write(t.mount.join("app/leaf/memory.max"), n(60 * MIB + 1)).unwrap();
        let b = binding(&loc, "memory.max", "memory.current")
            .unwrap()
            .unwrap();
        assert_eq!(b.limit, 300 * MIB);
    }

    /// The swap allowance of a v2 group that already has swap in use: what the
    /// guard may count on is the limit minus that use, read in the limit's group.
    #[test]
    fn swap_in_use_comes_from_the_swap_limits_group() {
        let t = Tree::new(
            "swap",
            &[
                (
                    "/sw",
                    &[
                        ("memory.swap.max", n(192 * MIB)),
                        ("memory.swap.current", n(64 * MIB)),
                        ("memory.high", n(500 * MIB)),
                    ],
                ),
                (
                    "/sw/leaf",
                    &[
                        ("memory.swap.max", "max\n".into()),
                        ("memory.swap.current", n(64 * MIB)),
                        (
                            "memory.pressure",
                            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".into(),
                        ),
                    ],
                ),
            ],
        );
        let mut loc = t.loc("/sw/leaf", 2);
        let mut m = CgroupMemory::default();
        let dir = loc.dir.clone();
        read_v2_extra(&mut m, &mut loc, &dir).unwrap();
        assert_eq!(m.swap_limit_bytes, Some(192 * MIB));
        assert_eq!(m.swap_usage_bytes, Some(64 * MIB));
        assert_eq!(
            m.swap_limit_set_at.as_deref(),
            Some(t.mount.join("sw").to_str().unwrap())
        );
        assert_eq!(m.high_bytes, Some(500 * MIB));
        let system = crate::model::SystemMemory {
            swap_total_bytes: 1024 * MIB,
            swap_free_bytes: 900 * MIB,
            ..Default::default()
        };
        assert_eq!(usable_swap(&system, Some(&m)).0, 128 * MIB);
        // Without a swap limit anywhere: the process's group's own swap use.
        std::fs::write(t.mount.join("sw/memory.swap.max"), "max\n").unwrap();
        std::fs::write(t.mount.join("sw/leaf/memory.swap.current"), n(3 * MIB)).unwrap();
        let mut m = CgroupMemory::default();
        read_v2_extra(&mut m, &mut loc, &dir).unwrap();
        assert_eq!(
            (m.swap_limit_bytes, m.swap_usage_bytes),
            (None, Some(3 * MIB))
        );
        // The memory limit's group has its own memory.pressure: it replaces the leaf's.
        std::fs::write(t.mount.join("sw/memory.pressure"), "some total=0\n").unwrap();
        let parent = t.mount.join("sw");
        read_v2_extra(&mut m, &mut loc, &parent).unwrap();
        assert_eq!(loc.pressure_file, Some(parent.join("memory.pressure")));
    }

    /// v1: memsw counts memory + swap; the allowance is memsw's limit above the
    /// memory limit and the swap in use memsw usage minus memory usage.
    #[test]
    fn v1_swap_is_memsw_minus_memory() {
        let t = Tree::new(
            "v1",
            &[(
                "/app",
                &[
                    ("memory.limit_in_bytes", n(512 * MIB)),
                    ("memory.usage_in_bytes", n(300 * MIB)),
                    ("memory.memsw.limit_in_bytes", n(768 * MIB)),
                    ("memory.memsw.usage_in_bytes", n(340 * MIB)),
                ],
            )],
        );
        let loc = t.loc("/app", 1);
        let limit = binding(&loc, "memory.limit_in_bytes", "memory.usage_in_bytes").unwrap();
        let mut m = CgroupMemory {
            usage_bytes: 300 * MIB,
            ..Default::default()
        };
        read_v1_swap(&mut m, &loc, limit.as_ref(), &loc.dir).unwrap();
        assert_eq!(m.swap_limit_bytes, Some(256 * MIB));
        assert_eq!(m.swap_usage_bytes, Some(40 * MIB));
        let system = crate::model::SystemMemory {
            swap_total_bytes: 1024 * MIB,
            swap_free_bytes: 900 * MIB,
            ..Default::default()
        };
        assert_eq!(usable_swap(&system, Some(&m)).0, 216 * MIB);
    }
}
