//! The actions of an OS without a memwarden backend: every one refuses through
//! [`Error::unsupported_platform`], before anything is touched.

use crate::error::{Error, Result};

#[cfg(not(windows))]
pub mod advise {
    use super::*;
    use crate::model::Identity;
    use crate::model::PageoutAdvice;
    use crate::sys::Advised;

    pub struct Target;

    impl Target {
        pub fn open(_id: &Identity) -> Result<Self> {
            Err(Error::unsupported_platform(
                "paging out a process (working-set trim)",
            ))
        }
        pub fn describe(&self) -> String {
            String::new()
        }
        pub fn check_privileges(&mut self) -> Result<String> {
            Err(Error::unsupported_platform(
                "paging out a process (working-set trim)",
            ))
        }
        pub fn page_out(
            &self,
            _advice: PageoutAdvice,
            _progress: &mut dyn FnMut(u64, u64),
        ) -> Result<Advised> {
            Err(Error::unsupported_platform(
                "paging out a process (working-set trim)",
            ))
        }
    }
}

#[cfg(not(windows))]
pub mod cache {
    use super::*;
    use crate::model::Step;

    pub struct Purger;

    impl Purger {
        pub fn open(_slab: bool, _compact: bool) -> Result<Self> {
            Err(Error::unsupported_platform(
                "purging the page cache / standby list",
            ))
        }
        pub fn run(self) -> Result<Vec<Step>> {
            Err(Error::unsupported_platform(
                "purging the page cache / standby list",
            ))
        }
    }
}

pub mod cgroup {
    use super::*;
    use crate::model::CgroupLocation;

    pub struct Reclaimer;

    impl Reclaimer {
        pub fn open(_loc: &CgroupLocation) -> Result<Self> {
            Err(Error::unsupported_platform("cgroup reclaim"))
        }
        pub fn reclaim(&mut self, _bytes: u64) -> Result<bool> {
            Err(Error::unsupported_platform("cgroup reclaim"))
        }
    }
}

#[cfg(not(windows))]
pub mod heap {
    use super::*;

    pub const CALL: &str = "none";
    pub const RESIDENT: &str = "resident memory";

    pub fn trim() -> Result<bool> {
        Err(Error::unsupported_platform("returning the heap to the OS"))
    }
}
