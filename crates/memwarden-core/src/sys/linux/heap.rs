//! Linux: return the calling process's free heap to the OS (glibc malloc_trim).

use crate::error::Result;

/// The call that returns the heap, and what the memory it is judged by is called
/// here.
pub const CALL: &str = "malloc_trim";
pub const RESIDENT: &str = "RSS";

/// Ok(true) when memory was released. libc is used here: malloc_trim is a glibc
/// function, not a system call, so rustix has no binding for it.
#[cfg(target_env = "gnu")]
pub fn trim() -> Result<bool> {
    // SAFETY: malloc_trim(0) only releases free memory held by the allocator.
    Ok(unsafe { libc::malloc_trim(0) } == 1)
}

#[cfg(not(target_env = "gnu"))]
pub fn trim() -> Result<bool> {
    Err(crate::error::Error::Unsupported(
        "malloc_trim is a glibc function; this build uses another C library".into(),
    ))
}
