//! The system's low-memory notification (CreateMemoryResourceNotification with
//! LowMemoryResourceNotification): an event object the memory manager signals
//! while available physical memory is low, waited on with WaitForSingleObject.

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Memory::{
    CreateMemoryResourceNotification, LowMemoryResourceNotification,
};
use windows_sys::Win32::System::Threading::WaitForSingleObject;

use super::process::last_error;

#[derive(Debug)]
pub struct LowMemory(OwnedHandle);

impl LowMemory {
    pub fn open() -> std::io::Result<Self> {
        // SAFETY: a documented notification type; the handle is owned and closed.
        let h = unsafe { CreateMemoryResourceNotification(LowMemoryResourceNotification) };
        if h.is_null() {
            return Err(last_error());
        }
        // SAFETY: a handle this call returned and nothing else owns.
        Ok(Self(unsafe { OwnedHandle::from_raw_handle(h) }))
    }

    /// True when the system signalled low memory within `timeout`.
    pub fn wait(&self, timeout: Duration) -> std::io::Result<bool> {
        let ms = timeout.as_millis().min(u128::from(u32::MAX - 1)) as u32;
        // SAFETY: a valid event handle owned by self.
        match unsafe { WaitForSingleObject(self.0.as_raw_handle(), ms) } {
            WAIT_OBJECT_0 => Ok(true),
            WAIT_TIMEOUT => Ok(false),
            _ => Err(last_error()),
        }
    }
}
