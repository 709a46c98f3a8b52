//! Windows: the system's memory lists, through NtSetSystemInformation with
//! SystemMemoryListInformation (80) and one SYSTEM_MEMORY_LIST_COMMAND each: the
//! counterpart of Linux's sync + drop_caches, as Windows memory cleaners run it.
//!
//! What `purge-cache` runs, in this order:
//! - `compact`: MemoryEmptyWorkingSets (2) first, every process's working set
//!   emptied so that its pages land on the lists the next commands empty;
//! - always: MemoryFlushModifiedList (3), modified pages written to disk (the
//!   `sync` of Linux), then MemoryPurgeLowPriorityStandbyList (5), the
//!   low-priority standby pages (prefetched, least likely to be used) freed;
//! - `slab`: MemoryPurgeStandbyList (4), the whole standby list (the file cache)
//!   freed, the counterpart of drop_caches=3.
//!
//! Each command needs SeProfileSingleProcessPrivilege (held by an elevated
//! Administrator's token); without it Windows answers STATUS_PRIVILEGE_NOT_HELD.
//! The bindings are `windows-native`'s (the phnt headers); none is declared here.
//!
//! Wine's NtSetSystemInformation is a stub that answers STATUS_SUCCESS to every
//! class without doing anything, and its token grants the privilege: a purge
//! there would report success for nothing, so under Wine (ntdll exports
//! `wine_get_version`) `open` refuses as not supported.

use windows_native::ntexapi::{
    NtSetSystemInformation, SYSTEM_INFORMATION_CLASS, SYSTEM_MEMORY_LIST_COMMAND,
};

use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

use crate::error::{Error, Result};
use crate::model::Step;

use super::privileges::{self, PROFILE_SINGLE_PROCESS};

/// NTSTATUS values the purge names in its reports.
const STATUS_SUCCESS: u32 = 0x0000_0000;
const STATUS_NOT_IMPLEMENTED: u32 = 0xC000_0002;
const STATUS_INVALID_INFO_CLASS: u32 = 0xC000_0003;
const STATUS_ACCESS_DENIED: u32 = 0xC000_0022;
const STATUS_PRIVILEGE_NOT_HELD: u32 = 0xC000_0061;

/// One memory-list command, named as Windows memory cleaners print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    EmptyWorkingSets,
    FlushModifiedList,
    PurgeLowPriorityStandbyList,
    PurgeStandbyList,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::EmptyWorkingSets => "EmptyWorkingSets",
            Command::FlushModifiedList => "FlushModifiedList",
            Command::PurgeLowPriorityStandbyList => "PurgeLowPriorityStandbyList",
            Command::PurgeStandbyList => "PurgeStandbyList",
        }
    }

    fn code(self) -> SYSTEM_MEMORY_LIST_COMMAND {
        match self {
            Command::EmptyWorkingSets => SYSTEM_MEMORY_LIST_COMMAND::MemoryEmptyWorkingSets,
            Command::FlushModifiedList => SYSTEM_MEMORY_LIST_COMMAND::MemoryFlushModifiedList,
            Command::PurgeLowPriorityStandbyList => {
                SYSTEM_MEMORY_LIST_COMMAND::MemoryPurgeLowPriorityStandbyList
            }
            Command::PurgeStandbyList => SYSTEM_MEMORY_LIST_COMMAND::MemoryPurgeStandbyList,
        }
    }
}

/// The commands `purge-cache` runs for its options, in order (module doc).
pub fn commands(slab: bool, compact: bool) -> Vec<Command> {
    let mut v = Vec::with_capacity(4);
    if compact {
        v.push(Command::EmptyWorkingSets);
    }
    v.push(Command::FlushModifiedList);
    v.push(Command::PurgeLowPriorityStandbyList);
    if slab {
        v.push(Command::PurgeStandbyList);
    }
    v
}

/// The NTSTATUS's name where the purge knows it.
fn status_name(status: u32) -> Option<&'static str> {
    Some(match status {
        STATUS_SUCCESS => "STATUS_SUCCESS",
        STATUS_NOT_IMPLEMENTED => "STATUS_NOT_IMPLEMENTED",
        STATUS_INVALID_INFO_CLASS => "STATUS_INVALID_INFO_CLASS",
        STATUS_ACCESS_DENIED => "STATUS_ACCESS_DENIED",
        STATUS_PRIVILEGE_NOT_HELD => "STATUS_PRIVILEGE_NOT_HELD",
        _ => return None,
    })
}

/// "FlushModifiedList : OK (status 0x00000000)", or FAILED with the status's
/// name when known: the words of Windows memory cleaners.
pub fn describe(cmd: Command, status: u32) -> String {
    let outcome = if nt_success(status) { "OK" } else { "FAILED" };
    match status_name(status).filter(|_| !nt_success(status)) {
        Some(n) => format!("{} : {outcome} (status 0x{status:08X}, {n})", cmd.name()),
        None => format!("{} : {outcome} (status 0x{status:08X})", cmd.name()),
    }
}

/// NT_SUCCESS: success and informational statuses (severity 0 or 1).
fn nt_success(status: u32) -> bool {
    (status as i32) >= 0
}

/// What the first command's failure means for the whole purge: Some(error) when
/// nothing can run here (unsupported, or the privilege was refused after all).
fn refusal(cmd: Command, status: u32) -> Option<Error> {
    let said = describe(cmd, status);
    match status {
        STATUS_NOT_IMPLEMENTED | STATUS_INVALID_INFO_CLASS => Some(Error::Unsupported(format!(
            "the system's memory lists cannot be purged here: NtSetSystemInformation \
             (SystemMemoryListInformation) is not implemented by this system ({said}); \
             nothing was changed"
        ))),
        STATUS_PRIVILEGE_NOT_HELD | STATUS_ACCESS_DENIED => Some(Error::PermissionDenied {
            what: format!("purging the standby list ({said}; nothing was changed)"),
            needs: format!("{}; run as Administrator", PROFILE_SINGLE_PROCESS.name),
        }),
        _ => None,
    }
}

/// One command sent to the system: its NTSTATUS, as unsigned hex reads it.
fn send(cmd: Command) -> u32 {
    let mut code = cmd.code() as i32;
    // SAFETY: SystemMemoryListInformation takes a 4-byte SYSTEM_MEMORY_LIST_COMMAND
    // read from the buffer; `code` lives across the call.
    let status = unsafe {
        NtSetSystemInformation(
            SYSTEM_INFORMATION_CLASS::SystemMemoryListInformation,
            (&mut code as *mut i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    status.0 as u32
}

/// Whether ntdll is Wine's: it exports `wine_get_version`, Windows' does not.
pub fn under_wine() -> bool {
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: a NUL-terminated UTF-16 name; ntdll is loaded in every process and
    // the handle is not freed (GetModuleHandleW takes no reference).
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return false;
    }
    // SAFETY: a valid module handle and a NUL-terminated ANSI name; the address
    // is only tested, never called.
    unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}

/// The refusal under Wine, whose memory-list commands do nothing (module doc).
fn wine_refusal() -> Error {
    Error::Unsupported(
        "purging the standby list under Wine: its NtSetSystemInformation \
         (SystemMemoryListInformation) is a stub that answers STATUS_SUCCESS without \
         purging anything; nothing was changed"
            .into(),
    )
}

/// The memory-list purge, opened: the privilege it needs is enabled, so a
/// refusal comes before anything changes.
pub struct Purger {
    commands: Vec<Command>,
}

impl Purger {
    /// Enables SeProfileSingleProcessPrivilege on memwarden's own token, or
    /// refuses. `slab` also purges the whole standby list; `compact` empties
    /// every working set first (module doc).
    pub fn open(slab: bool, compact: bool) -> Result<Self> {
        if under_wine() {
            return Err(wine_refusal());
        }
        let granted = privileges::enable(&[PROFILE_SINGLE_PROCESS]);
        match &granted[0].1 {
            Ok(true) => Ok(Self {
                commands: commands(slab, compact),
            }),
            _ => Err(Error::PermissionDenied {
                what: format!(
                    "purging the standby list ({}; nothing was changed)",
                    privileges::describe(&granted)
                ),
                needs: format!("{}; run as Administrator", PROFILE_SINGLE_PROCESS.name),
            }),
        }
    }

    /// Each command in turn, one step each. When the first is refused as not
    /// implemented (STATUS_NOT_IMPLEMENTED, STATUS_INVALID_INFO_CLASS) or not
    /// permitted, nothing changed and that is the error.
    pub fn run(self) -> Result<Vec<Step>> {
        let mut steps = Vec::with_capacity(self.commands.len());
        for (i, &cmd) in self.commands.iter().enumerate() {
            let status = send(cmd);
            if i == 0 {
                if let Some(e) = refusal(cmd, status) {
                    return Err(e);
                }
            }
            steps.push(Step::new(
                cmd.name(),
                nt_success(status),
                describe(cmd, status),
            ));
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::*;

    #[test]
    fn the_options_choose_the_commands() {
        assert_eq!(
            commands(false, false),
            [FlushModifiedList, PurgeLowPriorityStandbyList]
        );
        assert_eq!(
            commands(true, false),
            [
                FlushModifiedList,
                PurgeLowPriorityStandbyList,
                PurgeStandbyList
            ]
        );
        assert_eq!(
            commands(true, true),
            [
                EmptyWorkingSets,
                FlushModifiedList,
                PurgeLowPriorityStandbyList,
                PurgeStandbyList
            ]
        );
        assert_eq!(commands(false, true)[0], EmptyWorkingSets);
    }

    #[test]
    fn the_codes_are_the_memory_list_commands() {
        assert_eq!(EmptyWorkingSets.code() as i32, 2);
        assert_eq!(FlushModifiedList.code() as i32, 3);
        assert_eq!(PurgeStandbyList.code() as i32, 4);
        assert_eq!(PurgeLowPriorityStandbyList.code() as i32, 5);
        assert_eq!(
            SYSTEM_INFORMATION_CLASS::SystemMemoryListInformation as i32,
            80
        );
    }

    #[test]
    fn the_status_is_worded_as_memory_cleaners_print_it() {
        assert_eq!(
            describe(FlushModifiedList, 0),
            "FlushModifiedList : OK (status 0x00000000)"
        );
        assert_eq!(
            describe(PurgeStandbyList, STATUS_PRIVILEGE_NOT_HELD),
            "PurgeStandbyList : FAILED (status 0xC0000061, STATUS_PRIVILEGE_NOT_HELD)"
        );
        assert_eq!(
            describe(PurgeLowPriorityStandbyList, 0xC000_0001),
            "PurgeLowPriorityStandbyList : FAILED (status 0xC0000001)"
        );
    }

    #[test]
    fn a_first_command_not_implemented_is_unsupported_and_changes_nothing() {
        for s in [STATUS_NOT_IMPLEMENTED, STATUS_INVALID_INFO_CLASS] {
            let e = refusal(FlushModifiedList, s).unwrap();
            assert!(matches!(e, Error::Unsupported(_)), "{e}");
            let m = e.to_string();
            assert!(m.starts_with("not supported here: "), "{m}");
            assert!(m.contains(&format!("0x{s:08X}")), "{m}");
            assert!(m.contains("nothing was changed"), "{m}");
        }
        let e = refusal(FlushModifiedList, STATUS_PRIVILEGE_NOT_HELD).unwrap();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert!(
            e.to_string().contains("SeProfileSingleProcessPrivilege"),
            "{e}"
        );
        assert!(refusal(FlushModifiedList, 0).is_none());
        assert!(refusal(FlushModifiedList, 0xC000_0001).is_none());
    }

    #[test]
    fn under_wine_the_call_reaches_its_stub_and_the_purge_refuses() {
        if !under_wine() {
            // On Windows itself sending a command would purge the machine's lists.
            return;
        }
        // The binding links and is called as Windows would: Wine's stub takes the
        // 4-byte command and answers STATUS_SUCCESS, having done nothing.
        assert_eq!(send(FlushModifiedList), STATUS_SUCCESS);
        let e = Purger::open(true, true).err().unwrap();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("under Wine"), "{e}");
    }
}
