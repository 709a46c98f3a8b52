//! Windows: return the calling process's free heap to the OS: HeapCompact on each
//! of the process's heaps (GetProcessHeaps: the default heap, the C runtime's and
//! any a library created; Rust's allocator and the UCRT's malloc both allocate
//! from the default heap).
//!
//! What HeapCompact can return: it coalesces adjacent free blocks and decommits
//! free blocks large enough to cover whole pages, so that memory leaves the
//! commit charge and the working set. What it cannot: memory still allocated
//! (fragmentation around live blocks stays), free blocks smaller than a page or
//! below the heap's decommit threshold, the address space the heap reserved (it
//! is decommitted, never released), the low-fragmentation heap's buckets while
//! any block in them is live, and memory of allocators that do not use these
//! heaps (VirtualAlloc-based pools such as CUDA's or PyTorch's caching
//! allocator). Heaps created with HEAP_NO_SERIALIZE have no lock; Windows offers
//! no documented way to tell them apart, and compacting one while its owning
//! thread uses it is the one risk this call carries (such heaps are rare: they
//! cannot use the low-fragmentation heap, the default since Windows Vista).

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Memory::{GetProcessHeaps, HeapCompact};

use crate::error::{Error, Result};

use super::process::{last_error, memory_counters};

/// The process's heaps. The list may grow between the two calls: it is read
/// again with a larger buffer until it fits.
fn process_heaps() -> std::io::Result<Vec<HANDLE>> {
    let mut heaps: Vec<HANDLE> = Vec::new();
    loop {
        let capacity = heaps.capacity() as u32;
        // SAFETY: the buffer holds `capacity` handles; GetProcessHeaps writes at
        // most that many and returns how many there are.
        let n = unsafe { GetProcessHeaps(capacity, heaps.as_mut_ptr()) };
        if n == 0 {
            return Err(last_error());
        }
        if n <= capacity {
            // SAFETY: the first n handles were written.
            unsafe { heaps.set_len(n as usize) };
            return Ok(heaps);
        }
        heaps.reserve(n as usize + 4);
    }
}

/// Our own private commit (PrivateUsage), in bytes.
fn private_commit() -> Result<u64> {
    memory_counters(None)
        .map(|c| c.PrivateUsage as u64)
        .map_err(|e| Error::io("GetProcessMemoryInfo(own process)", e))
}

/// The call that returns the heap, and what the memory it is judged by is called
/// here.
pub const CALL: &str = "HeapCompact";
pub const RESIDENT: &str = "working set";

/// HeapCompact on every process heap. Ok(true) when our private commit went
/// down: HeapCompact itself only returns the largest free block, not what it
/// decommitted.
pub fn trim() -> Result<bool> {
    let before = private_commit()?;
    let heaps = process_heaps().map_err(|e| Error::io("GetProcessHeaps", e))?;
    for heap in heaps {
        // SAFETY: a heap handle of this process, from GetProcessHeaps; flags 0
        // takes the heap's lock. A 0 return (no free block, or a heap that cannot
        // be compacted) is not an error of the trim.
        unsafe { HeapCompact(heap, 0) };
    }
    Ok(private_commit()? < before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_heaps_are_listed_and_compacted() {
        let heaps = process_heaps().unwrap();
        assert!(!heaps.is_empty() && heaps.iter().all(|h| !h.is_null()));
        // Free a few large blocks, then compact: the call succeeds whether or
        // not it had anything to decommit.
        let blocks: Vec<Vec<u8>> = (0..16).map(|_| vec![1u8; 256 << 10]).collect();
        drop(std::hint::black_box(blocks));
        trim().unwrap();
    }
}
