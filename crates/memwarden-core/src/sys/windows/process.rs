//! Raw calls on processes: open a handle, its creation time, whether it has
//! exited, its image name, its memory counters, and the process list (with
//! every process's memory counters, or Toolhelp's names only).

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Wdk::System::SystemInformation::{
    NtQuerySystemInformation, SystemProcessInformation,
};
use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, FILETIME, INVALID_HANDLE_VALUE,
    STATUS_INFO_LENGTH_MISMATCH, STILL_ACTIVE,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::ProcessStatus::{
    K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS, PROCESS_MEMORY_COUNTERS_EX,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetExitCodeProcess, GetProcessTimes, OpenProcess,
    QueryFullProcessImageNameW, PROCESS_ACCESS_RIGHTS, PROCESS_NAME_WIN32,
    PROCESS_QUERY_LIMITED_INFORMATION,
};
use windows_sys::Win32::System::WindowsProgramming::SYSTEM_PROCESS_INFORMATION;

use crate::error::{Error, Result};

/// The calling thread's last error, as an `io::Error` (its text names it).
pub fn last_error() -> std::io::Error {
    // SAFETY: GetLastError only reads the thread's last-error value.
    std::io::Error::from_raw_os_error(unsafe { GetLastError() } as i32)
}

/// What a failed OpenProcess means: the PID does not exist (ERROR_INVALID_PARAMETER),
/// the caller may not open it, or something else.
pub fn open_error(pid: u32, what: &str, needs: &str, e: std::io::Error) -> Error {
    match e.raw_os_error().map(|c| c as u32) {
        Some(ERROR_INVALID_PARAMETER) => Error::NoSuchProcess { pid: pid as i64 },
        Some(ERROR_ACCESS_DENIED) => Error::PermissionDenied {
            what: format!("{what} (PID {pid})"),
            needs: needs.into(),
        },
        _ => Error::io(format!("OpenProcess({pid}) for {what}"), e),
    }
}

/// What opening another user's process for reading needs.
pub const QUERY_NEEDS: &str = "PROCESS_QUERY_LIMITED_INFORMATION access to it: run as the \
     process's user, or elevated (as Administrator) for other users' processes and services";

/// A process handle with `access`; closed when dropped.
pub fn open(pid: u32, access: PROCESS_ACCESS_RIGHTS) -> std::io::Result<OwnedHandle> {
    // SAFETY: OpenProcess takes plain values and returns a handle we own, or null.
    let h = unsafe { OpenProcess(access, 0, pid) };
    if h.is_null() {
        return Err(last_error());
    }
    // SAFETY: h is a valid process handle that nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(h) })
}

/// A handle for reading `pid` (times, name, memory counters).
pub fn open_query(pid: u32, what: &str) -> Result<OwnedHandle> {
    open(pid, PROCESS_QUERY_LIMITED_INFORMATION).map_err(|e| open_error(pid, what, QUERY_NEEDS, e))
}

/// A FILETIME as one number: 100-nanosecond intervals since 1601-01-01 UTC.
pub fn filetime_u64(t: FILETIME) -> u64 {
    ((t.dwHighDateTime as u64) << 32) | t.dwLowDateTime as u64
}

/// When the process was created (FILETIME units): with the PID it names one process
/// across PID reuse.
pub fn start_time(h: &OwnedHandle) -> std::io::Result<u64> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: four valid out-pointers; the handle has query access.
    let ok = unsafe {
        GetProcessTimes(
            h.as_raw_handle(),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(filetime_u64(created))
}

/// True when the process has exited (a handle somewhere keeps its object alive: it
/// holds no memory any more). A process that exited with code 259 (STILL_ACTIVE)
/// reads as running, as GetExitCodeProcess documents.
pub fn has_exited(h: &OwnedHandle) -> bool {
    let mut code = 0u32;
    // SAFETY: a valid out-pointer; the handle has query access.
    let ok = unsafe { GetExitCodeProcess(h.as_raw_handle(), &mut code) };
    ok != 0 && code != STILL_ACTIVE as u32
}

/// The last component of a Windows (or POSIX) path: the image's file name.
pub fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// The file name of the process's image, e.g. `python.exe`.
pub fn image_name(h: &OwnedHandle) -> Option<String> {
    let mut buf = vec![0u16; 32768];
    let mut len = buf.len() as u32;
    // SAFETY: buf holds len UTF-16 units; len is updated to what was written.
    let ok = unsafe {
        QueryFullProcessImageNameW(
            h.as_raw_handle(),
            PROCESS_NAME_WIN32,
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    if ok == 0 {
        return None;
    }
    let path = String::from_utf16_lossy(&buf[..len as usize]);
    Some(base_name(&path).to_string())
}

/// The memory counters (working set, private commit) of the process behind `h`,
/// or of the calling process when `h` is None.
pub fn memory_counters(h: Option<&OwnedHandle>) -> std::io::Result<PROCESS_MEMORY_COUNTERS_EX> {
    // SAFETY: the struct is plain data; zero is a valid value for every field.
    let mut c: PROCESS_MEMORY_COUNTERS_EX = unsafe { std::mem::zeroed() };
    c.cb = std::mem::size_of::<PROCESS_MEMORY_COUNTERS_EX>() as u32;
    let raw = match h {
        Some(h) => h.as_raw_handle(),
        // SAFETY: the pseudo handle of the calling process; never closed.
        None => unsafe { GetCurrentProcess() },
    };
    // SAFETY: c is a PROCESS_MEMORY_COUNTERS_EX of c.cb bytes, which starts with the
    // PROCESS_MEMORY_COUNTERS the signature names.
    let ok = unsafe {
        K32GetProcessMemoryInfo(raw, &mut c as *mut _ as *mut PROCESS_MEMORY_COUNTERS, c.cb)
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(c)
}

/// One process as NtQuerySystemInformation(SystemProcessInformation) lists it.
pub struct Listed {
    pub pid: u32,
    pub name: String,
    /// The figures GetProcessMemoryInfo would give (working set, commit,
    /// private bytes), the rest zero.
    pub counters: PROCESS_MEMORY_COUNTERS_EX,
}

/// Every process with its memory counters, in one call: no process is opened,
/// so those the caller may not open are listed too. The buffer grows until the
/// list fits.
pub fn list_with_memory() -> std::io::Result<Vec<Listed>> {
    let mut buf = vec![0u64; 64 * 1024];
    loop {
        let bytes = (buf.len() * 8) as u32;
        let mut needed = 0u32;
        // SAFETY: buf holds `bytes` bytes, 8-aligned for the entries.
        let status = unsafe {
            NtQuerySystemInformation(
                SystemProcessInformation,
                buf.as_mut_ptr().cast(),
                bytes,
                &mut needed,
            )
        };
        if status == STATUS_INFO_LENGTH_MISMATCH && buf.len() < 1 << 26 {
            buf.resize(
                (needed as usize).max(bytes as usize * 2).div_ceil(8) + 4096,
                0,
            );
            continue;
        }
        if status < 0 {
            return Err(std::io::Error::other(format!(
                "NtQuerySystemInformation(SystemProcessInformation): NTSTATUS 0x{:08X}",
                status as u32
            )));
        }
        return Ok(walk(&buf));
    }
}

/// The entries of a filled SystemProcessInformation buffer.
fn walk(buf: &[u64]) -> Vec<Listed> {
    let base = buf.as_ptr() as *const u8;
    let end = buf.len() * 8;
    let mut out = Vec::with_capacity(256);
    let mut at = 0usize;
    while at + size_of::<SYSTEM_PROCESS_INFORMATION>() <= end {
        // SAFETY: `at` is an entry's offset inside buf (the first, or the sum of
        // NextEntryOffset values the call wrote); Wine's are not always 8-aligned,
        // so the entry is copied out unaligned.
        let e =
            unsafe { std::ptr::read_unaligned(base.add(at) as *const SYSTEM_PROCESS_INFORMATION) };
        let units: Vec<u16> = (0..e.ImageName.Length as usize / 2)
            // SAFETY: ImageName points at Length bytes inside the same buffer
            // (null with Length 0 for the idle process), perhaps unaligned too.
            .map(|i| unsafe { std::ptr::read_unaligned(e.ImageName.Buffer.add(i)) })
            .collect();
        let name = String::from_utf16_lossy(&units);
        // SAFETY: plain data; zero is a valid value for every field.
        let mut c: PROCESS_MEMORY_COUNTERS_EX = unsafe { std::mem::zeroed() };
        c.WorkingSetSize = e.WorkingSetSize;
        c.PagefileUsage = e.PagefileUsage;
        c.PrivateUsage = e.PrivatePageCount;
        out.push(Listed {
            pid: e.UniqueProcessId as usize as u32,
            name,
            counters: c,
        });
        if e.NextEntryOffset == 0 {
            break;
        }
        at += e.NextEntryOffset as usize;
    }
    out
}

/// Every process in one Toolhelp snapshot: (PID, image file name).
pub fn list() -> std::io::Result<Vec<(u32, String)>> {
    // SAFETY: plain values in; a snapshot handle we own (or INVALID_HANDLE_VALUE) out.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snap == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    // SAFETY: a valid snapshot handle that nothing else owns.
    let snap = unsafe { OwnedHandle::from_raw_handle(snap) };
    let mut out = Vec::with_capacity(256);
    // SAFETY: plain data; dwSize is set as the API requires.
    let mut e: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    e.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
    // SAFETY: e is a PROCESSENTRY32W with dwSize set; the snapshot handle is valid.
    let mut ok = unsafe { Process32FirstW(snap.as_raw_handle(), &mut e) };
    while ok != 0 {
        let len = e.szExeFile.iter().position(|&c| c == 0).unwrap_or(260);
        out.push((
            e.th32ProcessID,
            String::from_utf16_lossy(&e.szExeFile[..len]),
        ));
        // SAFETY: as above.
        ok = unsafe { Process32NextW(snap.as_raw_handle(), &mut e) };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_times() {
        assert_eq!(
            base_name(r"C:\Program Files\Python\python.exe"),
            "python.exe"
        );
        assert_eq!(base_name("/usr/bin/wine"), "wine");
        assert_eq!(base_name("System"), "System");
        let t = FILETIME {
            dwLowDateTime: 2,
            dwHighDateTime: 1,
        };
        assert_eq!(filetime_u64(t), (1 << 32) + 2);
    }

    #[test]
    fn open_errors_map_to_kinds() {
        let e = |c: u32| std::io::Error::from_raw_os_error(c as i32);
        let nf = open_error(7, "x", "y", e(ERROR_INVALID_PARAMETER));
        assert_eq!(nf.exit_code(), crate::error::exit_code::NOT_FOUND);
        let pd = open_error(7, "trimming", "rights", e(ERROR_ACCESS_DENIED));
        assert_eq!(pd.exit_code(), crate::error::exit_code::PERMISSION);
        assert!(pd.to_string().contains("rights"), "{pd}");
    }

    #[test]
    fn own_process_is_read() {
        let h = open_query(std::process::id(), "reading").unwrap();
        assert!(start_time(&h).unwrap() > 0);
        assert!(!has_exited(&h));
        assert!(image_name(&h).is_some_and(|n| n.ends_with(".exe")));
        assert!(memory_counters(Some(&h)).unwrap().WorkingSetSize > 0);
        assert!(list().unwrap().iter().any(|p| p.0 == std::process::id()));
    }
}
