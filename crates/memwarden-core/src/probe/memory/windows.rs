//! Windows: GlobalMemoryStatusEx, GetPerformanceInfo and EnumPageFilesW.
//!
//! The figures as psutil defines them on Windows: total and available are the
//! physical memory and what is available of it (free, zeroed and standby pages),
//! `free` equals `available` (Windows has no separate "unused" count there), used =
//! total - available. `cached_bytes` is the system cache (GetPerformanceInfo's
//! SystemCache); `committed_bytes` / `commit_limit_bytes` are the commit charge and
//! the commit limit (physical memory plus the page files).
//!
//! The "swap" figures are the page files: total and in use summed over what
//! EnumPageFilesW lists. When it cannot list them (it fails, or lists none while
//! the commit limit exceeds physical memory, as under Wine), the page-file total is
//! estimated as commit limit - physical memory and the use as commit charge -
//! physical memory in use (never below zero, never above the total); an estimate
//! below [`MIN_PAGE_FILE`] is rounding between the two counters, not a page file.
//!
//! The swap check reads these figures as swap: a trim is allowed when the page
//! files' free room covers the private part of the working set plus the margin,
//! and without a page file it is refused unless forced (private pages would only
//! move to the modified list and stay in RAM). The room counted is the page
//! files' current size, not what a system-managed page file may still grow to, so
//! the guard may refuse a trim that growth would have absorbed but never allows
//! one beyond the room that exists. Each listed page file is also reported in
//! `page_files` with its drive (GetVolumePathNameW) and the drive's free space
//! (GetDiskFreeSpaceExW); when there is one, the guard judges a trim by the
//! drives instead ([`crate::policy::swap`]): what the page files may have to
//! grow by, plus the margin, must fit on each.

use crate::error::{Error, Result};
use crate::model::{PageFile, SystemMemory};
use crate::sys::windows::fs::{free_bytes, volume_of};
use crate::sys::windows::memory::PageFile as ListedPageFile;
use crate::sys::windows::memory::{memory_status, os_version, page_files, performance_info};

/// Windows never makes a page file smaller than this (16 MiB).
const MIN_PAGE_FILE: u64 = 16 << 20;

/// The raw figures, in bytes, that [`system_memory`] turns into a snapshot's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Raw {
    total: u64,
    available: u64,
    system_cache: u64,
    commit_total: u64,
    commit_limit: u64,
    /// Summed over the listed page files; None when they could not be listed.
    page_file: Option<(u64, u64)>,
    /// The listed page files with their drives.
    files: Vec<PageFile>,
}

/// Page-file (total, used): the listed files, or the commit-limit estimate.
fn page_file_figures(r: &Raw) -> (u64, u64) {
    match r.page_file {
        Some((total, used)) if total > 0 || r.commit_limit <= r.total => (total, used.min(total)),
        _ => {
            let total = r.commit_limit.saturating_sub(r.total);
            if total < MIN_PAGE_FILE {
                return (0, 0);
            }
            let in_ram = r.total.saturating_sub(r.available);
            (total, r.commit_total.saturating_sub(in_ram).min(total))
        }
    }
}

fn system_memory(r: &Raw) -> SystemMemory {
    let used = r.total.saturating_sub(r.available);
    let (swap_total, swap_used) = page_file_figures(r);
    SystemMemory {
        total_bytes: r.total,
        available_bytes: r.available,
        available_estimated: false,
        free_bytes: r.available,
        used_bytes: used,
        percent_used: if r.total > 0 {
            used as f64 * 100.0 / r.total as f64
        } else {
            0.0
        },
        buffers_bytes: 0,
        cached_bytes: r.system_cache,
        shmem_bytes: 0,
        swap_total_bytes: swap_total,
        swap_free_bytes: swap_total - swap_used,
        swap_used_bytes: swap_used,
        swap_cached_bytes: 0,
        committed_bytes: r.commit_total,
        commit_limit_bytes: r.commit_limit,
        page_files: r.files.clone(),
    }
}

/// A page file's path as a reader writes it: EnumPageFilesW may give the NT
/// form `\??\C:\pagefile.sys`.
fn display_path(listed: &str) -> &str {
    listed.strip_prefix(r"\??\").unwrap_or(listed)
}

/// The drive root a path starts with (`C:\`), when it starts with one.
fn drive_prefix(path: &str) -> Option<String> {
    let b = path.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\')
        .then(|| path[..3].to_ascii_uppercase())
}

/// A listed page file, located: its drive and the drive's free space.
fn located(f: &ListedPageFile, page: u64) -> PageFile {
    let path = display_path(&f.path).to_string();
    let drive = volume_of(&path)
        .ok()
        .or_else(|| drive_prefix(&path))
        .unwrap_or_default();
    let drive_free_bytes = (!drive.is_empty())
        .then(|| free_bytes(&drive).ok())
        .flatten();
    PageFile {
        total_bytes: f.total_pages * page,
        used_bytes: (f.in_use_pages * page).min(f.total_pages * page),
        path,
        drive,
        drive_free_bytes,
    }
}

fn summed(files: &[ListedPageFile], page: u64) -> (u64, u64) {
    files.iter().fold((0, 0), |(t, u), f| {
        (t + f.total_pages * page, u + f.in_use_pages * page)
    })
}

pub fn read_system_memory() -> Result<SystemMemory> {
    let m = memory_status().map_err(|e| Error::io("GlobalMemoryStatusEx", e))?;
    let p = performance_info().map_err(|e| Error::io("GetPerformanceInfo", e))?;
    let page = p.PageSize as u64;
    let listed = page_files().ok();
    let raw = Raw {
        total: m.ullTotalPhys,
        available: m.ullAvailPhys,
        system_cache: p.SystemCache as u64 * page,
        commit_total: p.CommitTotal as u64 * page,
        commit_limit: p.CommitLimit as u64 * page,
        page_file: listed.as_ref().map(|f| summed(f, page)),
        files: listed.iter().flatten().map(|f| located(f, page)).collect(),
    };
    Ok(system_memory(&raw))
}

/// The Windows version, e.g. "Windows 10.0.19045".
pub fn kernel_release() -> String {
    match os_version() {
        Some((major, minor, build)) => format!("Windows {major}.{minor}.{build}"),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn psutil_figures_and_listed_page_files() {
        let r = Raw {
            total: 16 * GIB,
            available: 4 * GIB,
            system_cache: GIB,
            commit_total: 20 * GIB,
            commit_limit: 24 * GIB,
            page_file: Some((8 * GIB, 3 * GIB)),
            files: Vec::new(),
        };
        let m = system_memory(&r);
        assert_eq!(m.used_bytes, 12 * GIB);
        assert_eq!(m.percent_used, 75.0);
        assert_eq!(m.free_bytes, m.available_bytes);
        assert_eq!(m.cached_bytes, GIB);
        assert_eq!((m.swap_total_bytes, m.swap_used_bytes), (8 * GIB, 3 * GIB));
        assert_eq!(m.swap_free_bytes, 5 * GIB);
        assert_eq!(m.commit_limit_bytes, 24 * GIB);
    }

    #[test]
    fn unlisted_page_files_are_estimated_from_the_commit_limit() {
        let mut r = Raw {
            total: 16 * GIB,
            available: 4 * GIB,
            commit_total: 14 * GIB,
            commit_limit: 24 * GIB,
            ..Default::default()
        };
        // 12 GiB in RAM, 14 committed: 2 GiB beyond RAM, of an 8 GiB page file.
        assert_eq!(page_file_figures(&r), (8 * GIB, 2 * GIB));
        // Listed as none while the limit exceeds RAM: estimated all the same.
        r.page_file = Some((0, 0));
        assert_eq!(page_file_figures(&r), (8 * GIB, 2 * GIB));
        // No page file at all: the limit is RAM, nothing to estimate.
        r.commit_limit = 16 * GIB;
        assert_eq!(page_file_figures(&r), (0, 0));
        // A few pages of difference: rounding, no page file (as under Wine).
        r.commit_limit = 16 * GIB + 8192;
        r.commit_total = 20 * GIB;
        assert_eq!(page_file_figures(&r), (0, 0));
        // Commit within RAM: nothing in the page file.
        r.commit_limit = 24 * GIB;
        r.commit_total = 10 * GIB;
        assert_eq!(page_file_figures(&r).1, 0);
    }

    #[test]
    fn page_file_paths_and_drives() {
        assert_eq!(display_path(r"\??\C:\pagefile.sys"), r"C:\pagefile.sys");
        assert_eq!(display_path(r"D:\pagefile.sys"), r"D:\pagefile.sys");
        assert_eq!(drive_prefix(r"d:\pagefile.sys").as_deref(), Some(r"D:\"));
        assert_eq!(drive_prefix(r"\\server\share\x"), None);
        let f = ListedPageFile {
            path: r"\??\C:\pagefile.sys".into(),
            total_pages: 10,
            in_use_pages: 4,
        };
        let p = located(&f, 4096);
        assert_eq!(
            (p.path.as_str(), p.total_bytes, p.used_bytes),
            (r"C:\pagefile.sys", 40960, 16384)
        );
        assert!(p.drive.eq_ignore_ascii_case(r"C:\"), "{p:?}");
        assert!(p.drive_free_bytes.is_some_and(|b| b > 0), "{p:?}");
    }

    #[test]
    fn this_machine_is_read() {
        let m = read_system_memory().unwrap();
        assert!(
            m.total_bytes > 0 && m.available_bytes <= m.total_bytes,
            "{m:?}"
        );
        assert!(m.commit_limit_bytes > 0 && m.swap_used_bytes <= m.swap_total_bytes);
        // Wine lists no page file; Windows usually one, on the system drive.
        for f in &m.page_files {
            assert!(!f.path.is_empty() && !f.drive.is_empty(), "{f:?}");
            assert!(f.used_bytes <= f.total_bytes, "{f:?}");
        }
        assert!(
            kernel_release().starts_with("Windows "),
            "{}",
            kernel_release()
        );
    }
}
