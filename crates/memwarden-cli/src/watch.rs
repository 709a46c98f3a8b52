//! `memwarden watch`: its arguments; the view itself is the memwarden-watch crate.

use std::time::Duration;

use clap::{Args, ValueEnum};
use memwarden_core::Error;
use memwarden_watch::{SortKey, WatchOptions};

#[derive(Args)]
pub struct WatchArgs {
    /// Seconds between refreshes (0.1 to 3600; fractions allowed). Keys + and - change it live.
    #[arg(long, value_name = "SECS", default_value = "1", allow_hyphen_values = true,
          value_parser = memwarden_watch::parse_interval)]
    interval: Duration,
    /// Order of the process list (keys m, p, c, s; the same key again reverses).
    #[arg(long, value_enum, default_value_t = Sort::Memory)]
    sort: Sort,
    /// No colours (as NO_COLOR=1 or --color never).
    #[arg(long)]
    no_color: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Sort {
    /// Resident memory, largest first.
    Memory,
    /// Process ID, lowest first.
    Pid,
    /// Process name, alphabetically.
    Command,
    /// Swapped-out memory, largest first.
    Swap,
}

/// Run the view. `color` is the global choice (`--color`, NO_COLOR).
pub fn watch(a: &WatchArgs, json: bool, color: bool) -> Result<(), Error> {
    if json {
        return Err(Error::InvalidInput(
            "memwarden watch is a live view and has no JSON output; use `memwarden check --json`"
                .into(),
        ));
    }
    memwarden_watch::run(&WatchOptions {
        interval: a.interval,
        sort: match a.sort {
            Sort::Memory => SortKey::Memory,
            Sort::Pid => SortKey::Pid,
            Sort::Command => SortKey::Command,
            Sort::Swap => SortKey::Swap,
        },
        color: color && !a.no_color,
    })
}
