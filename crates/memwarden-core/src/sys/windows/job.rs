//! Raw calls on job objects, Windows' counterpart of a memory cgroup: whether a
//! process runs in one, and the limits and processes of the caller's own job.
//! Windows gives no way to open the job of another process, so only the job the
//! caller runs in can be read.

use std::os::windows::io::{AsRawHandle, OwnedHandle};

use windows_sys::Win32::System::JobObjects::{
    IsProcessInJob, JobObjectBasicProcessIdList, JobObjectExtendedLimitInformation,
    QueryInformationJobObject, JOBOBJECT_BASIC_PROCESS_ID_LIST,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use super::process::last_error;

/// Whether the process behind `h` (the caller when None) runs in any job.
pub fn in_job(h: Option<&OwnedHandle>) -> std::io::Result<bool> {
    let raw = match h {
        Some(h) => h.as_raw_handle(),
        // SAFETY: the pseudo handle of the calling process; never closed.
        None => unsafe { GetCurrentProcess() },
    };
    let mut result = 0;
    // SAFETY: a valid process handle, a null job (any job), a valid out-pointer.
    let ok = unsafe { IsProcessInJob(raw, std::ptr::null_mut(), &mut result) };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(result != 0)
}

/// The extended limits (flags, process and job memory limits, peaks) of the job
/// the caller runs in.
pub fn own_limits() -> std::io::Result<JOBOBJECT_EXTENDED_LIMIT_INFORMATION> {
    let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    // SAFETY: a null job handle names the caller's job; info is a buffer of the
    // size given, of the type the information class fills.
    let ok = unsafe {
        QueryInformationJobObject(
            std::ptr::null_mut(),
            JobObjectExtendedLimitInformation,
            &mut info as *mut _ as *mut core::ffi::c_void,
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(info)
}

/// The PIDs of every process in the caller's job (the list grows until it holds
/// them all).
pub fn own_pids() -> std::io::Result<Vec<u32>> {
    let header = std::mem::size_of::<JOBOBJECT_BASIC_PROCESS_ID_LIST>() - size_of::<usize>();
    let mut room = 64usize;
    loop {
        // usize words: aligned for the list's header and its PIDs.
        let mut buf = vec![0usize; header / size_of::<usize>() + room];
        let bytes = (buf.len() * size_of::<usize>()) as u32;
        // SAFETY: a null job handle names the caller's job; buf is `bytes` long and
        // aligned for JOBOBJECT_BASIC_PROCESS_ID_LIST.
        let ok = unsafe {
            QueryInformationJobObject(
                std::ptr::null_mut(),
                JobObjectBasicProcessIdList,
                buf.as_mut_ptr() as *mut core::ffi::c_void,
                bytes,
                std::ptr::null_mut(),
            )
        };
        // SAFETY: buf starts with the list's header, filled or zeroed.
        let list = unsafe { &*(buf.as_ptr() as *const JOBOBJECT_BASIC_PROCESS_ID_LIST) };
        let (assigned, listed) = (
            list.NumberOfAssignedProcesses as usize,
            list.NumberOfProcessIdsInList as usize,
        );
        if ok == 0 && (assigned <= room || room >= 1 << 16) {
            return Err(last_error());
        }
        if ok != 0 && listed >= assigned {
            let ids = &buf[header / size_of::<usize>()..][..listed];
            return Ok(ids.iter().map(|&p| p as u32).collect());
        }
        room = assigned.max(room * 2);
    }
}
