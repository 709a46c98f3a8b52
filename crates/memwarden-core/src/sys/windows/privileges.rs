//! The privileges of memwarden's own process token. A privilege is enabled only
//! when the token holds it (an elevated Administrator's token holds all three
//! below, a standard user's none of them); AdjustTokenPrivileges then succeeds
//! with ERROR_NOT_ALL_ASSIGNED for one it does not hold, which is reported as not
//! granted. Enabling changes memwarden's own token only, never another process.
//!
//! - SeIncreaseQuotaPrivilege: changing another process's working-set limits.
//! - SeProfileSingleProcessPrivilege: the system's memory lists (standby purge).
//! - SeDebugPrivilege: opening processes of other users and services.

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::core::PCWSTR;
use windows_sys::Win32::Foundation::{GetLastError, ERROR_NOT_ALL_ASSIGNED, HANDLE, LUID};
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, LookupPrivilegeValueW, LUID_AND_ATTRIBUTES, SE_DEBUG_NAME,
    SE_INCREASE_QUOTA_NAME, SE_PRIVILEGE_ENABLED, SE_PROF_SINGLE_PROCESS_NAME,
    TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::process::last_error;

/// A privilege memwarden asks for: its name as Windows spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privilege {
    pub name: &'static str,
    wide: PCWSTR,
}

pub const INCREASE_QUOTA: Privilege = Privilege {
    name: "SeIncreaseQuotaPrivilege",
    wide: SE_INCREASE_QUOTA_NAME,
};
pub const PROFILE_SINGLE_PROCESS: Privilege = Privilege {
    name: "SeProfileSingleProcessPrivilege",
    wide: SE_PROF_SINGLE_PROCESS_NAME,
};
pub const DEBUG: Privilege = Privilege {
    name: "SeDebugPrivilege",
    wide: SE_DEBUG_NAME,
};

/// The three a memory cleaner asks for, in the order they are reported.
pub const TRIM_PRIVILEGES: [Privilege; 3] = [INCREASE_QUOTA, PROFILE_SINGLE_PROCESS, DEBUG];

/// Whether one privilege was enabled: Ok(false) when the token does not hold it,
/// Err when the token could not be opened or the name is unknown.
pub type Granted = (Privilege, std::io::Result<bool>);

/// Our own process token, opened to enable privileges.
fn own_token() -> std::io::Result<OwnedHandle> {
    let mut h: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess is a pseudo-handle; h receives a handle we own.
    let ok = unsafe {
        OpenProcessToken(
            GetCurrentProcess(),
            TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY,
            &mut h,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    // SAFETY: h is a valid token handle that nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(h) })
}

/// Enable `p` on `token`: Ok(true) when granted, Ok(false) when the token does
/// not hold it (ERROR_NOT_ALL_ASSIGNED).
fn enable_on(token: &OwnedHandle, p: Privilege) -> std::io::Result<bool> {
    let mut luid = LUID {
        LowPart: 0,
        HighPart: 0,
    };
    // SAFETY: p.wide is a NUL-terminated UTF-16 name; luid is written on success.
    if unsafe { LookupPrivilegeValueW(std::ptr::null(), p.wide, &mut luid) } == 0 {
        return Err(last_error());
    }
    let state = TOKEN_PRIVILEGES {
        PrivilegeCount: 1,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: SE_PRIVILEGE_ENABLED,
        }],
    };
    // SAFETY: a token handle with TOKEN_ADJUST_PRIVILEGES and one privilege in
    // `state`; the previous state is not asked for.
    let ok = unsafe {
        AdjustTokenPrivileges(
            token.as_raw_handle(),
            0,
            &state,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    // SAFETY: reads the thread's last error, which AdjustTokenPrivileges always
    // sets on success (ERROR_SUCCESS or ERROR_NOT_ALL_ASSIGNED).
    Ok(unsafe { GetLastError() } != ERROR_NOT_ALL_ASSIGNED)
}

/// Enable each of `wanted` where the token holds it, one at a time so that one
/// missing privilege does not hide the others.
pub fn enable(wanted: &[Privilege]) -> Vec<Granted> {
    match own_token() {
        Ok(token) => wanted.iter().map(|&p| (p, enable_on(&token, p))).collect(),
        Err(e) => wanted
            .iter()
            .map(|&p| (p, Err(std::io::Error::new(e.kind(), e.to_string()))))
            .collect(),
    }
}

/// "SeIncreaseQuotaPrivilege=YES, SeDebugPrivilege=NO": one entry per privilege,
/// with the error when it could not even be asked for.
pub fn describe(granted: &[Granted]) -> String {
    granted
        .iter()
        .map(|(p, r)| match r {
            Ok(true) => format!("{}=YES", p.name),
            Ok(false) => format!("{}=NO", p.name),
            Err(e) => format!("{}=NO ({e})", p.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_each_privilege_with_yes_or_no() {
        let denied = std::io::Error::from_raw_os_error(5);
        let d = describe(&[
            (INCREASE_QUOTA, Ok(true)),
            (PROFILE_SINGLE_PROCESS, Ok(false)),
            (DEBUG, Err(denied)),
        ]);
        assert!(
            d.starts_with(
                "SeIncreaseQuotaPrivilege=YES, SeProfileSingleProcessPrivilege=NO, \
                 SeDebugPrivilege=NO ("
            ),
            "{d}"
        );
    }

    #[test]
    fn own_token_is_asked_for_all_three() {
        let granted = enable(&TRIM_PRIVILEGES);
        assert_eq!(granted.len(), 3);
        // Whatever the token holds, each name is known and is answered yes or no.
        for (p, r) in &granted {
            assert!(r.is_ok(), "{}: {r:?}", p.name);
        }
        let d = describe(&granted);
        for p in TRIM_PRIVILEGES {
            assert!(
                d.contains(&format!("{}=YES", p.name)) || d.contains(&format!("{}=NO", p.name)),
                "{d}"
            );
        }
        // Asking again gives the same answer: enabling is idempotent.
        let again = enable(&[DEBUG]);
        assert_eq!(again[0].1.as_ref().ok(), granted[2].1.as_ref().ok(), "{d}");
    }
}
