//! One error type for every probe and action, with a stable exit code per kind so
//! scripts can branch on *why* memwarden refused or failed.

use std::io;

/// Exit codes are part of the CLI contract (docs/cli.md); never renumber them.
pub mod exit_code {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const PERMISSION: i32 = 4;
    pub const UNSUPPORTED: i32 = 5;
    /// The swap check refused a pageout (named `GUARD_REFUSED` before).
    pub const SWAP_REFUSED: i32 = 6;
    pub const PROTECTED: i32 = 7;
    pub const AMBIGUOUS: i32 = 8;
    pub const HEADROOM_REFUSED: i32 = 9;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PID that does not exist (or exited while we looked at it).
    #[error("no process with PID {pid} (it does not exist or has exited)")]
    NoSuchProcess { pid: i64 },

    /// Input that can never be valid (PID 0, negative, size syntax...).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The kernel said EPERM/EACCES; `needs` says what would grant it.
    #[error("permission denied: {what} (needs {needs})")]
    PermissionDenied { what: String, needs: String },

    /// Old kernel, missing cgroup feature, wrong OS, read-only /proc/sys...
    #[error("not supported here: {0}")]
    Unsupported(String),

    /// The swap check refused a pageout; nothing was changed. `message` is the
    /// verdict worded by the face that asked, with its own names
    /// (`render::swap::reason`); `verdict` holds the figures.
    #[error("refused by the swap check: {message}")]
    SwapRefused {
        message: String,
        verdict: Box<crate::model::SwapVerdict>,
    },

    /// PID 1, kernel threads, zombies: processes memwarden never touches.
    #[error("refused: {0}")]
    Protected(String),

    /// `--auto` matched zero or several processes.
    #[error("{0}")]
    Ambiguous(String),

    /// The headroom guard refused (a load that cannot fit under the memory limit);
    /// nothing was changed. `message` is the refusal worded by the face that raises
    /// it, with its own names (`render::headroom::refusal`).
    #[error("{message}")]
    HeadroomRefused {
        message: String,
        refusal: Box<crate::model::Refusal>,
    },

    /// A /proc or cgroup file that does not have the documented format.
    #[error("malformed {file}: {detail}")]
    Malformed { file: String, detail: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The one answer of every probe and action that this OS has no backend for
    /// yet (probe/unsupported.rs, sys/unsupported.rs): exit code 5, and the same
    /// words whatever was asked.
    pub fn unsupported_platform(what: &str) -> Self {
        Error::Unsupported(format!(
            "{what} is not available on this platform yet ({} has no memwarden backend; \
             Linux has one, Windows is planned)",
            std::env::consts::OS
        ))
    }

    pub fn exit_code(&self) -> i32 {
        use exit_code::*;
        match self {
            Error::NoSuchProcess { .. } => NOT_FOUND,
            Error::InvalidInput(_) => USAGE,
            Error::PermissionDenied { .. } => PERMISSION,
            Error::Unsupported(_) => UNSUPPORTED,
            Error::SwapRefused { .. } => SWAP_REFUSED,
            Error::Protected(_) => PROTECTED,
            Error::Ambiguous(_) => AMBIGUOUS,
            Error::HeadroomRefused { .. } => HEADROOM_REFUSED,
            Error::Malformed { .. } | Error::Io { .. } => FAILURE,
        }
    }

    /// Short machine-readable kind, used in `--json` error objects.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NoSuchProcess { .. } => "no_such_process",
            Error::InvalidInput(_) => "invalid_input",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::Unsupported(_) => "unsupported",
            Error::SwapRefused { .. } => "swap_refused",
            Error::Protected(_) => "protected",
            Error::Ambiguous(_) => "ambiguous",
            Error::HeadroomRefused { .. } => "headroom_refused",
            Error::Malformed { .. } => "malformed",
            Error::Io { .. } => "io",
        }
    }

    /// The same error, kind and exit code with `prefix` put before what it says, e.g.
    /// which process `--auto` chose.
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Error::NoSuchProcess { .. } => self,
            Error::InvalidInput(m) => Error::InvalidInput(format!("{prefix}{m}")),
            Error::PermissionDenied { what, needs } => Error::PermissionDenied {
                what: format!("{prefix}{what}"),
                needs,
            },
            Error::Unsupported(m) => Error::Unsupported(format!("{prefix}{m}")),
            Error::SwapRefused { message, verdict } => Error::SwapRefused {
                message: format!("{prefix}{message}"),
                verdict,
            },
            Error::Protected(m) => Error::Protected(format!("{prefix}{m}")),
            Error::Ambiguous(m) => Error::Ambiguous(format!("{prefix}{m}")),
            Error::HeadroomRefused { message, refusal } => Error::HeadroomRefused {
                message: format!("{prefix}{message}"),
                refusal,
            },
            Error::Malformed { file, detail } => Error::Malformed {
                file: format!("{prefix}{file}"),
                detail,
            },
            Error::Io { context, source } => Error::Io {
                context: format!("{prefix}{context}"),
                source,
            },
        }
    }

    // Used by the OS backends; the other-platform backend has no I/O yet.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn malformed(file: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Malformed {
            file: file.into(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each kind.
    /// Every variant, once: a new one fails to compile here until it is listed in
    /// [`every_kind`] and the table below.
    #[allow(dead_code)]
    fn listed(e: &Error) {
        match e {
            Error::NoSuchProcess { .. }
            | Error::InvalidInput(_)
            | Error::PermissionDenied { .. }
            | Error::Unsupported(_)
            | Error::SwapRefused { .. }
            | Error::Protected(_)
            | Error::Ambiguous(_)
            | Error::HeadroomRefused { .. }
            | Error::Malformed { .. }
            | Error::Io { .. } => {}
        }
    }

    fn every_kind() -> Vec<Error> {
        vec![
            Error::NoSuchProcess { pid: 42 },
            Error::InvalidInput("x".into()),
            Error::PermissionDenied {
                what: "w".into(),
                needs: "n".into(),
            },
            Error::Unsupported("u".into()),
            Error::SwapRefused {
                message: "g".into(),
                verdict: Box::new(crate::model::SwapVerdict {
                    allowed: false,
                    forced: false,
                    swap_free_bytes: 0,
                    needed_bytes: 1,
                    margin_bytes: 0,
                    finding: crate::model::SwapFinding::NoSwap,
                    allowance: None,
                    commit: None,
                    reason: "g".into(),
                }),
            },
            Error::Protected("p".into()),
            Error::Ambiguous("a".into()),
            Error::HeadroomRefused {
                message: "m".into(),
                refusal: Box::new(crate::model::Refusal {
                    cause: crate::model::RefusalCause::Headroom,
                    what: "loading x".into(),
                    needed_bytes: 2,
                    free_bytes: 1,
                    margin_bytes: 0,
                    limit_bytes: None,
                    limit_set_at: None,
                }),
            },
            Error::malformed("f", "d"),
            Error::io("c", io::Error::other("disk on fire")),
        ]
    }

    /// The exit codes are the CLI's contract (README "Exit codes"), and the Python
    /// exceptions carry the same `.kind` and `.exit_code` (tests/python/test_api.py
    /// pins the same table on that side): every kind, its word and its number.
    #[test]
    fn exit_code_table_is_pinned() {
        let table: Vec<(&str, i32)> = every_kind()
            .iter()
            .map(|e| (e.kind(), e.exit_code()))
            .collect();
        assert_eq!(
            table,
            [
                ("no_such_process", 3),
                ("invalid_input", 2),
                ("permission_denied", 4),
                ("unsupported", 5),
                ("swap_refused", 6),
                ("protected", 7),
                ("ambiguous", 8),
                ("headroom_refused", 9),
                ("malformed", 1),
                ("io", 1),
            ]
        );
        use exit_code::*;
        assert_eq!(
            [
                OK,
                FAILURE,
                USAGE,
                NOT_FOUND,
                PERMISSION,
                UNSUPPORTED,
                SWAP_REFUSED,
                PROTECTED,
                AMBIGUOUS,
                HEADROOM_REFUSED
            ],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        );
        assert_eq!(Error::unsupported_platform("x").exit_code(), 5);
    }

    /// A prefix changes the words only: the kind and the exit code stay.
    #[test]
    fn prefixed_keeps_kind_and_code() {
        for e in every_kind() {
            let (kind, code, text) = (e.kind(), e.exit_code(), e.to_string());
            let p = e.prefixed("PID 7: ");
            assert_eq!((p.kind(), p.exit_code()), (kind, code));
            if kind == "no_such_process" {
                assert_eq!(p.to_string(), text, "names its PID already");
            } else {
                assert!(p.to_string().contains("PID 7: "), "{kind}: {p}");
            }
        }
        assert_eq!(
            Error::PermissionDenied {
                what: "w".into(),
                needs: "n".into()
            }
            .prefixed("PID 7: ")
            .to_string(),
            "permission denied: PID 7: w (needs n)"
        );
    }
}
