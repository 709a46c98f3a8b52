//! Memory of known size for the test programs (`alloc_child`, `neighbour`): written
//! pages of anonymous private mappings, so that they are really resident and charged
//! and cannot be shared or deduplicated.

/// Write one non-zero byte in every 4 KiB page of `buf` (`round` varies the data,
/// so a re-write is a real write).
pub fn touch(buf: &mut [u8], round: u8) {
    for (i, page) in buf.chunks_mut(4096).enumerate() {
        page[0] = round.wrapping_add(i as u8) | 1;
    }
}

/// A fresh private anonymous mapping of `len` bytes, every page written, held until
/// the process exits (never unmapped); `huge` asks for huge pages where the kernel
/// has them (the fastest way to take memory). Returns its address.
pub fn held_mapping(len: usize, round: u8, huge: bool) -> *mut libc::c_void {
    // SAFETY: a fresh private anonymous mapping, written within its bounds; it is
    // never unmapped, so the slice made here cannot outlive it.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(
            p,
            libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        if huge {
            libc::madvise(p, len, libc::MADV_HUGEPAGE);
        }
        touch(std::slice::from_raw_parts_mut(p as *mut u8, len), round);
        p
    }
}
