//! An OS without a memwarden backend: the gauge says so.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::Headroom;

#[derive(Debug)]
pub struct Gauge;

impl Gauge {
    pub fn open(_pid: u32) -> Result<Self> {
        Err(Error::unsupported_platform("watching memory headroom"))
    }
    pub fn read(&mut self, _near: u64) -> Result<Vec<Headroom>> {
        Err(Error::unsupported_platform("watching memory headroom"))
    }
    pub fn refresh(&mut self) -> Result<bool> {
        Ok(false)
    }
    pub fn arm(&mut self, _reserve: u64) {}
    pub fn wait_event(&self, timeout: Duration) -> Result<Option<String>> {
        std::thread::sleep(timeout);
        Ok(None)
    }
    pub fn describe(&self) -> String {
        "nothing (no backend on this OS)".into()
    }
}
