//! Another process's command line: NtQueryInformationProcess with
//! ProcessCommandLineInformation (Windows 8.1 and later), which wants only
//! PROCESS_QUERY_LIMITED_INFORMATION; where that class is unknown (older
//! Windows, Wine), the documented fields of its PEB (ProcessParameters, then
//! CommandLine) read with ReadProcessMemory, which also wants PROCESS_VM_READ.
//! CommandLineToArgvW splits it as programs see their arguments. Its working
//! directory is ProcessParameters->CurrentDirectory, read the same way; that
//! field is reserved in windows-sys, so its offset comes from the phnt headers'
//! layout of the structure (windows-native).

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::path::PathBuf;

use windows_sys::Wdk::System::Threading::{
    NtQueryInformationProcess, ProcessBasicInformation, ProcessCommandLineInformation,
    PROCESSINFOCLASS,
};
use windows_sys::Win32::Foundation::{LocalFree, UNICODE_STRING};
use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
use windows_sys::Win32::System::Threading::{
    PEB, PROCESS_BASIC_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_VM_READ,
    RTL_USER_PROCESS_PARAMETERS,
};
use windows_sys::Win32::UI::Shell::CommandLineToArgvW;

use super::fs::{from_wide_ptr, wide};
use super::process::{last_error, open};

fn nt_error(class: &str, status: i32) -> std::io::Error {
    std::io::Error::other(format!(
        "NtQueryInformationProcess({class}): NTSTATUS 0x{:08X}",
        status as u32
    ))
}

/// The command line process `pid` (behind `h`) was started with, as one string.
pub fn command_line(pid: u32, h: &OwnedHandle) -> std::io::Result<String> {
    from_query(h).or_else(|_| from_peb(pid))
}

/// A `T` copied out of another process's memory.
fn read_remote<T: Copy>(h: &OwnedHandle, addr: *const T) -> std::io::Result<T> {
    let mut v = std::mem::MaybeUninit::<T>::uninit();
    let mut done = 0usize;
    let size = std::mem::size_of::<T>();
    // SAFETY: v has room for `size` bytes; ReadProcessMemory fails rather than
    // read an unmapped address in the other process.
    let ok = unsafe {
        ReadProcessMemory(
            h.as_raw_handle(),
            addr.cast(),
            v.as_mut_ptr().cast(),
            size,
            &mut done,
        )
    };
    if ok == 0 || done != size {
        return Err(last_error());
    }
    // SAFETY: all `size` bytes were written; T is plain data.
    Ok(unsafe { v.assume_init() })
}

/// A handle that may read `pid`'s memory, and the address of its process
/// parameters (in its PEB, whose address ProcessBasicInformation gives).
fn process_parameters(
    pid: u32,
) -> std::io::Result<(OwnedHandle, *const RTL_USER_PROCESS_PARAMETERS)> {
    let h = open(pid, PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ)?;
    // SAFETY: plain data; zero is valid for every field.
    let mut pbi: PROCESS_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
    let status = query(&h, ProcessBasicInformation, &mut pbi);
    if status < 0 {
        return Err(nt_error("ProcessBasicInformation", status));
    }
    let peb: PEB = read_remote(&h, pbi.PebBaseAddress)?;
    Ok((h, peb.ProcessParameters))
}

/// Through the PEB: its ProcessParameters' CommandLine.
fn from_peb(pid: u32) -> std::io::Result<String> {
    let (h, at) = process_parameters(pid)?;
    let params: RTL_USER_PROCESS_PARAMETERS = read_remote(&h, at)?;
    read_string(&h, params.CommandLine)
}

/// The working directory of process `pid`: its ProcessParameters'
/// CurrentDirectory.DosPath (which ends in a backslash), without the trailing
/// backslash unless it is a drive's root.
pub fn current_dir(pid: u32) -> std::io::Result<PathBuf> {
    use windows_native::ntrtl::{CURDIR, RTL_USER_PROCESS_PARAMETERS as FULL};
    let (h, at) = process_parameters(pid)?;
    let offset =
        std::mem::offset_of!(FULL, CurrentDirectory) + std::mem::offset_of!(CURDIR, DosPath);
    // SAFETY: only an address is computed here; ReadProcessMemory reads it.
    let field = unsafe { at.cast::<u8>().add(offset) }.cast::<UNICODE_STRING>();
    let mut dir = read_string(&h, read_remote(&h, field)?)?;
    if dir.ends_with('\\') && !dir.ends_with(":\\") {
        dir.pop();
    }
    if dir.is_empty() {
        return Err(std::io::Error::other(
            "the process has no current directory",
        ));
    }
    Ok(PathBuf::from(dir))
}

/// The text of a UNICODE_STRING in another process's memory.
fn read_string(h: &OwnedHandle, line: UNICODE_STRING) -> std::io::Result<String> {
    let mut units = vec![0u16; line.Length as usize / 2];
    let mut done = 0usize;
    // SAFETY: units has room for Length bytes.
    let ok = unsafe {
        ReadProcessMemory(
            h.as_raw_handle(),
            line.Buffer.cast(),
            units.as_mut_ptr().cast(),
            units.len() * 2,
            &mut done,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    units.truncate(done / 2);
    Ok(String::from_utf16_lossy(&units))
}

/// NtQueryInformationProcess of a fixed-size `T`.
fn query<T>(h: &OwnedHandle, class: PROCESSINFOCLASS, out: &mut T) -> i32 {
    let mut len = 0u32;
    // SAFETY: out is a T of size_of::<T>() bytes.
    unsafe {
        NtQueryInformationProcess(
            h.as_raw_handle(),
            class,
            (out as *mut T).cast(),
            std::mem::size_of::<T>() as u32,
            &mut len,
        )
    }
}

/// Through ProcessCommandLineInformation (Windows 8.1 and later).
fn from_query(h: &OwnedHandle) -> std::io::Result<String> {
    let handle = h.as_raw_handle();
    let mut len = 0u32;
    // SAFETY: a size query: no buffer, `len` receives the size needed.
    let status = unsafe {
        NtQueryInformationProcess(
            handle,
            ProcessCommandLineInformation,
            std::ptr::null_mut(),
            0,
            &mut len,
        )
    };
    if len == 0 {
        return Err(nt_error("ProcessCommandLineInformation", status));
    }
    // u64s: the UNICODE_STRING at the start needs pointer alignment.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: buf holds buf.len() * 8 bytes, at least `len`.
    let status = unsafe {
        NtQueryInformationProcess(
            handle,
            ProcessCommandLineInformation,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        )
    };
    if status < 0 {
        return Err(nt_error("ProcessCommandLineInformation", status));
    }
    // SAFETY: on success the buffer starts with a UNICODE_STRING whose Buffer
    // points at `Length` bytes inside the same buffer.
    let text = unsafe {
        let us = &*(buf.as_ptr() as *const UNICODE_STRING);
        if us.Buffer.is_null() {
            return Ok(String::new());
        }
        std::slice::from_raw_parts(us.Buffer, us.Length as usize / 2)
    };
    Ok(String::from_utf16_lossy(text))
}

/// A command line split into arguments as CommandLineToArgvW splits it (the C
/// runtime's rules: quotes group, backslashes escape only before a quote).
pub fn split(line: &str) -> Vec<String> {
    // CommandLineToArgvW answers an empty line with our own executable's path.
    if line.trim().is_empty() {
        return Vec::new();
    }
    let text = wide(line);
    let mut n = 0i32;
    // SAFETY: text is NUL-terminated; the array returned is ours to LocalFree.
    let argv = unsafe { CommandLineToArgvW(text.as_ptr(), &mut n) };
    if argv.is_null() {
        return Vec::new();
    }
    let args = (0..n.max(0) as usize)
        // SAFETY: argv holds n NUL-terminated strings.
        .map(|i| unsafe { from_wide_ptr(*argv.add(i)) })
        .collect();
    // SAFETY: argv was allocated by CommandLineToArgvW, freed once.
    unsafe { LocalFree(argv.cast()) };
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_as_programs_see_them() {
        assert_eq!(
            split(r#""C:\Program Files\Python\python.exe" -s ComfyUI\main.py --listen"#),
            [
                r"C:\Program Files\Python\python.exe",
                "-s",
                r"ComfyUI\main.py",
                "--listen"
            ]
        );
        assert_eq!(
            split(r#"python.exe "a b" c\"d"#),
            ["python.exe", "a b", "c\"d"]
        );
        assert!(split("   ").is_empty());
    }

    #[test]
    fn own_command_line_is_read() {
        // Wine knows no ProcessCommandLineInformation: there the PEB is read.
        let me = std::process::id();
        let h = super::super::process::open_query(me, "reading").unwrap();
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_string_lossy().to_string();
        let argv = split(&command_line(me, &h).unwrap());
        assert!(argv.first().is_some_and(|a| a.ends_with(&name)), "{argv:?}");
        assert_eq!(argv.len(), std::env::args().count(), "{argv:?}");
        assert_eq!(split(&from_peb(me).unwrap()), argv);
    }

    #[test]
    fn own_current_directory_is_read() {
        let here = std::env::current_dir().unwrap();
        let read = current_dir(std::process::id()).unwrap();
        assert_eq!(
            read.to_string_lossy().to_lowercase(),
            here.to_string_lossy().trim_end_matches('\\').to_lowercase()
        );
    }
}
