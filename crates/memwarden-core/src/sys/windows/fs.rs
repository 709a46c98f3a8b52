//! Raw calls on drives: the volume a path lives on (GetVolumePathNameW) and the
//! free space on it (GetDiskFreeSpaceExW).

use windows_sys::Win32::Storage::FileSystem::{GetDiskFreeSpaceExW, GetVolumePathNameW};

use super::process::last_error;

/// `s` as a NUL-terminated UTF-16 string.
pub fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A NUL-terminated UTF-16 string, as Rust text (invalid code units replaced).
///
/// # Safety
/// `p` must be null or point at a NUL-terminated UTF-16 string.
pub unsafe fn from_wide_ptr(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller guarantees a terminating NUL.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` code units before the NUL were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The root of the volume holding `path` (e.g. `C:\`); the file itself need not
/// exist.
pub fn volume_of(path: &str) -> std::io::Result<String> {
    let name = wide(path);
    let mut buf = [0u16; 1024];
    // SAFETY: name is NUL-terminated; buf holds buf.len() code units.
    let ok = unsafe { GetVolumePathNameW(name.as_ptr(), buf.as_mut_ptr(), buf.len() as u32) };
    if ok == 0 {
        return Err(last_error());
    }
    let len = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    Ok(String::from_utf16_lossy(&buf[..len]))
}

/// Free bytes on the volume whose root is `root`, whatever the caller's quota
/// (the page file is written by the system, not by a user).
pub fn free_bytes(root: &str) -> std::io::Result<u64> {
    let name = wide(root);
    let mut free = 0u64;
    // SAFETY: name is NUL-terminated; the one out-pointer asked for is valid and
    // the others are null, which the call allows.
    let ok = unsafe {
        GetDiskFreeSpaceExW(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut free,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_strings_round_trip() {
        let w = wide("C:\\pagefile.sys");
        assert_eq!(w.last(), Some(&0));
        // SAFETY: w is NUL-terminated.
        assert_eq!(unsafe { from_wide_ptr(w.as_ptr()) }, "C:\\pagefile.sys");
        // SAFETY: null is allowed.
        assert_eq!(unsafe { from_wide_ptr(std::ptr::null()) }, "");
    }

    #[test]
    fn the_system_drive_is_found_and_measured() {
        let root = volume_of("C:\\pagefile.sys").unwrap();
        assert!(root.eq_ignore_ascii_case("C:\\"), "{root}");
        assert!(free_bytes(&root).unwrap() > 0);
        assert!(free_bytes("Q:\\no\\such\\drive\\").is_err());
    }
}
