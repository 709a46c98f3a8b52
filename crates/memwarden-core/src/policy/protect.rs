//! Processes memwarden never acts on, and PIDs that cannot be valid.

use crate::error::{Error, Result};
use crate::model::Identity;

/// A PID that may be read: from 1 to 2^31 - 1 (the kernel's pid_t; pid_max is at
/// most 4194304).
pub fn parse_pid(pid: i64) -> Result<u32> {
    if pid <= 0 {
        return Err(Error::InvalidInput(format!(
            "{pid} is not a valid PID (PIDs are positive integers)"
        )));
    }
    if pid > i32::MAX as i64 {
        return Err(Error::InvalidInput(format!(
            "{pid} is not a valid PID (too large: PIDs are at most {}, and the kernel's \
             pid_max at most 4194304)",
            i32::MAX
        )));
    }
    Ok(pid as u32)
}

/// A PID that may be acted on: valid, not PID 0 (the kernel's idle task: swapper
/// on Linux, the System Idle Process on Windows) and not PID 1 (init of this PID
/// namespace).
pub fn validate_pid(pid: i64) -> Result<u32> {
    if pid == 0 {
        return Err(Error::Protected(
            "PID 0 is the kernel's idle task (the System Idle Process on Windows); memwarden \
             never touches it"
                .into(),
        ));
    }
    let pid = parse_pid(pid)?;
    if pid == 1 {
        return Err(Error::Protected(
            "PID 1 is the init process of this PID namespace; memwarden never touches it".into(),
        ));
    }
    Ok(pid)
}

/// Refuse a kernel thread or a zombie (which holds no memory to act on). The
/// kernel's own processes of other OSes (Windows' System, PID 4) are identified as
/// kernel threads by their probe.
pub fn check_target(id: &Identity) -> Result<()> {
    if id.kernel_thread {
        return Err(Error::Protected(format!(
            "PID {} ({}) is a kernel thread or the kernel's own process; memwarden never \
             touches those",
            id.pid, id.name
        )));
    }
    if id.zombie {
        return Err(Error::Protected(format!(
            "PID {} ({}) is a zombie: it holds no memory to page out",
            id.pid, id.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_validation() {
        assert!(matches!(validate_pid(0), Err(Error::Protected(_))));
        assert!(matches!(parse_pid(0), Err(Error::InvalidInput(_))));
        assert!(matches!(validate_pid(-3), Err(Error::InvalidInput(_))));
        assert!(matches!(validate_pid(1), Err(Error::Protected(_))));
        assert_eq!(validate_pid(42).unwrap(), 42);
        assert_eq!(parse_pid(1).unwrap(), 1);
        let e = parse_pid(2147483648).unwrap_err().to_string();
        assert!(e.contains("too large"), "{e}");
        // The largest pid_t is a PID; 2 is the first one memwarden may act on.
        assert_eq!(parse_pid(2147483647).unwrap(), 2147483647);
        assert_eq!(validate_pid(2).unwrap(), 2);
        assert_eq!(
            validate_pid(-1).unwrap_err().to_string(),
            "invalid input: -1 is not a valid PID (PIDs are positive integers)"
        );
    }

    #[test]
    fn kernel_threads_and_zombies_are_refused() {
        let mut id = Identity {
            pid: 2,
            name: "kthreadd".into(),
            start_time: 1,
            kernel_thread: true,
            zombie: false,
        };
        let e = check_target(&id).unwrap_err();
        assert!(matches!(e, Error::Protected(_)) && e.to_string().contains("kernel thread"));
        id.kernel_thread = false;
        id.zombie = true;
        assert!(check_target(&id)
            .unwrap_err()
            .to_string()
            .contains("zombie"));
        id.zombie = false;
        assert!(check_target(&id).is_ok());
    }
}
