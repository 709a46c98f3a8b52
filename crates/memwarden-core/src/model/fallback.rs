//! How paging a process's own memory out went (the cleanup's OS-level trim, the
//! Memory Cleaner node): in-process through the core, else, when the kernel refused
//! that, through the external helper (a `memwarden` binary granted CAP_SYS_NICE, or
//! `python -m memwarden`). The Python package runs the chain in ComfyUI's process
//! and hands the outcome here; [`crate::render::pageout_attempt`] words it.

use serde::{Deserialize, Serialize};

use super::{PageoutReport, SwapVerdict};

/// What the external helper did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HelperResult {
    /// It paged the process out: bytes moved to swap.
    PagedOut { moved_bytes: u64 },
    /// Its swap check refused: the verdict worded in the caller's terms when the
    /// helper sent one, else the helper's own message.
    SwapRefused {
        verdict_text: Option<String>,
        error: String,
    },
    /// It could not run, or failed.
    Failed { error: String },
}

/// How paging this process out went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PageoutAttempt {
    /// Paged out in-process.
    PagedOut {
        rss_before_bytes: u64,
        rss_after_bytes: u64,
        moved_bytes: u64,
        /// The swap check's reason for letting it go ahead.
        swap_check: String,
    },
    /// The swap check refused it in-process (nothing paged out): its words.
    SwapRefused { said: String },
    /// The kernel refused it in-process, and the external helper is not allowed.
    Failed { error: String },
    /// Refused in-process, and the helper named by MEMWARDEN_HELPER cannot run.
    HelperUnusable { refused: String, why: String },
    /// Refused in-process; the external helper ran.
    Helper {
        refused: String,
        /// How the helper is named: its path, or `python -m memwarden`.
        helper: String,
        /// The default helper, with this process's own credentials.
        own_privileges: bool,
        result: HelperResult,
    },
}

impl PageoutAttempt {
    /// The in-process pageout went ahead: its figures, from its report.
    pub fn paged_out(r: &PageoutReport) -> Self {
        PageoutAttempt::PagedOut {
            rss_before_bytes: r.rss_before_bytes,
            rss_after_bytes: r.rss_after_bytes,
            moved_bytes: r.moved_to_swap_bytes(),
            swap_check: r.swap_check.reason.clone(),
        }
    }

    /// The step went as it may: paged out, or skipped by a swap check. A refusal
    /// with no way around it, or a helper that could not help, is a failure.
    pub fn ok(&self) -> bool {
        match self {
            PageoutAttempt::PagedOut { .. } | PageoutAttempt::SwapRefused { .. } => true,
            PageoutAttempt::Failed { .. } | PageoutAttempt::HelperUnusable { .. } => false,
            PageoutAttempt::Helper { result, .. } => !matches!(result, HelperResult::Failed { .. }),
        }
    }
}

/// The external helper refused or failed: its `--json` error (the kind and exit
/// code as the memwarden command reports them and, for a refusal of the swap check,
/// its verdict, to be worded in the caller's terms), or why it gave none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HelperError {
    pub error: String,
    /// The error kind (`swap_refused`, `permission_denied`...); empty when the
    /// helper gave no error object.
    pub kind: String,
    pub exit_code: Option<i32>,
    pub swap_check: Option<SwapVerdict>,
}

/// The environment variable that names the external helper.
pub const HELPER_ENV: &str = "MEMWARDEN_HELPER";

/// Which external helper the pageout's fallback would run, from `MEMWARDEN_HELPER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "helper", rename_all = "snake_case")]
pub enum HelperChoice {
    /// Unset: `python -m memwarden`, with the caller's own privileges.
    Default,
    /// The native binary it names (an absolute path to an executable file).
    Binary { path: String },
    /// It names nothing that can be run; nothing is run.
    Unusable {
        value: String,
        problem: HelperProblem,
    },
}

/// What is wrong with the value of `MEMWARDEN_HELPER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HelperProblem {
    NotAbsolute,
    Missing,
    NotAFile,
    NotExecutable,
}
