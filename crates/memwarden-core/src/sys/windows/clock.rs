//! The monotonic clock the headroom readings are stamped with:
//! QueryPerformanceCounter, the clock of Python's `time.monotonic_ns()` on Windows.

/// Nanoseconds on the performance counter.
pub fn monotonic_ns() -> u64 {
    let mut count = 0i64;
    let mut freq = 0i64;
    // SAFETY: valid out-pointers; both calls always succeed on XP and later.
    unsafe {
        windows_sys::Win32::System::Performance::QueryPerformanceCounter(&mut count);
        windows_sys::Win32::System::Performance::QueryPerformanceFrequency(&mut freq);
    }
    (count as i128 * 1_000_000_000 / freq.max(1) as i128) as u64
}
