//! No PSI outside Linux: every trigger registration is refused, so the watch
//! samples.

use std::io;
use std::path::Path;
use std::time::Duration;

#[derive(Debug)]
pub struct Trigger;

impl Trigger {
    pub fn open(_path: &Path, _stall: Duration, _window: Duration) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("PSI triggers are Linux-only ({})", std::env::consts::OS),
        ))
    }

    pub fn path(&self) -> &Path {
        Path::new("")
    }

    pub fn wait(&self, _timeout: Duration) -> io::Result<bool> {
        Ok(false)
    }
}
