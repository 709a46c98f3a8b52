//! Raw calls on host memory: GlobalMemoryStatusEx, GetPerformanceInfo, the page
//! files (EnumPageFilesW), and the OS version (RtlGetVersion, which unlike
//! GetVersionEx does not depend on the executable's manifest).

use windows_sys::core::{BOOL, PCWSTR};
use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::System::ProcessStatus::{
    K32EnumPageFilesW, K32GetPerformanceInfo, ENUM_PAGE_FILE_INFORMATION, PERFORMANCE_INFORMATION,
};
use windows_sys::Win32::System::SystemInformation::{
    GlobalMemoryStatusEx, MEMORYSTATUSEX, OSVERSIONINFOW,
};

use super::fs::from_wide_ptr;
use super::process::last_error;

pub fn memory_status() -> std::io::Result<MEMORYSTATUSEX> {
    // SAFETY: plain data; zero is valid for every field.
    let mut m: MEMORYSTATUSEX = unsafe { std::mem::zeroed() };
    m.dwLength = std::mem::size_of::<MEMORYSTATUSEX>() as u32;
    // SAFETY: m is a MEMORYSTATUSEX with dwLength set.
    if unsafe { GlobalMemoryStatusEx(&mut m) } == 0 {
        return Err(last_error());
    }
    Ok(m)
}

/// Commit charge and limit, physical memory and the system cache, in pages of
/// `PageSize` bytes.
pub fn performance_info() -> std::io::Result<PERFORMANCE_INFORMATION> {
    // SAFETY: plain data; zero is valid for every field.
    let mut p: PERFORMANCE_INFORMATION = unsafe { std::mem::zeroed() };
    let cb = std::mem::size_of::<PERFORMANCE_INFORMATION>() as u32;
    p.cb = cb;
    // SAFETY: p is a PERFORMANCE_INFORMATION of cb bytes.
    if unsafe { K32GetPerformanceInfo(&mut p, cb) } == 0 {
        return Err(last_error());
    }
    Ok(p)
}

/// One page file: its path as EnumPageFilesW names it, its size and what is in
/// use, in pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFile {
    pub path: String,
    pub total_pages: u64,
    pub in_use_pages: u64,
}

unsafe extern "system" fn collect_page_file(
    ctx: *mut core::ffi::c_void,
    info: *mut ENUM_PAGE_FILE_INFORMATION,
    name: PCWSTR,
) -> BOOL {
    // SAFETY: ctx is the Vec passed to EnumPageFilesW below; info and name are
    // valid for the duration of the callback, name NUL-terminated.
    let (files, info, path) = unsafe {
        (
            &mut *(ctx as *mut Vec<PageFile>),
            &*info,
            from_wide_ptr(name),
        )
    };
    files.push(PageFile {
        path,
        total_pages: info.TotalSize as u64,
        in_use_pages: info.TotalInUse as u64,
    });
    1
}

/// The page files, as EnumPageFilesW lists them (empty when there are none).
pub fn page_files() -> std::io::Result<Vec<PageFile>> {
    let mut files: Vec<PageFile> = Vec::new();
    // SAFETY: the callback only pushes onto `files`, which outlives the call.
    let ok = unsafe {
        K32EnumPageFilesW(
            Some(collect_page_file),
            &mut files as *mut Vec<PageFile> as *mut core::ffi::c_void,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(files)
}

/// (major, minor, build) of the running Windows.
pub fn os_version() -> Option<(u32, u32, u32)> {
    // SAFETY: plain data; zero is valid for every field.
    let mut v: OSVERSIONINFOW = unsafe { std::mem::zeroed() };
    v.dwOSVersionInfoSize = std::mem::size_of::<OSVERSIONINFOW>() as u32;
    // SAFETY: v is an OSVERSIONINFOW with its size set.
    let status = unsafe { RtlGetVersion(&mut v) };
    (status >= 0).then_some((v.dwMajorVersion, v.dwMinorVersion, v.dwBuildNumber))
}
