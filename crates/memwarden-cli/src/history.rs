//! `memwarden history`: the background manager's actions and statistics, read
//! from its history file (the core reads and renders; this only picks the file
//! and the output).

use std::path::PathBuf;

use clap::Args;
use memwarden_core::history;
use memwarden_core::policy::stats::stats;
use memwarden_core::render::{history_text, stats_text};
use memwarden_core::Error;

#[derive(Args)]
pub(crate) struct HistoryArgs {
    /// The history file (default: $XDG_STATE_HOME/memwarden/history.jsonl, else
    /// ~/.local/state/...; inside ComfyUI the manager writes
    /// <ComfyUI>/user/memwarden/history.jsonl).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Only the last N actions.
    #[arg(long, value_name = "N", value_parser = parse_last)]
    last: Option<usize>,
    /// Statistics (count, freed total, mean duration, per trigger and per step)
    /// instead of the actions.
    #[arg(long)]
    stats: bool,
}

fn parse_last(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "'{s}' is not a count of actions (a whole number, 1 or more)"
        )),
    }
}

/// The output of `memwarden history` with `a`: (value for --json, text).
pub(crate) fn history_output(a: &HistoryArgs) -> Result<(serde_json::Value, String), Error> {
    let path = match &a.file {
        Some(p) => p.clone(),
        None => history::default_path().ok_or_else(|| {
            Error::InvalidInput(
                "no default history file: neither XDG_STATE_HOME nor HOME (LOCALAPPDATA on \
                 Windows) is set; pass --file PATH"
                    .into(),
            )
        })?,
    };
    if a.file.is_some() && !path.exists() {
        // A file the user names must be there; the default one may not be yet.
        return Err(Error::InvalidInput(format!(
            "no history file at {} (the manager writes <ComfyUI>/user/memwarden/history.jsonl \
             inside ComfyUI, else the default file: run without --file)",
            path.display()
        )));
    }
    let read = history::read(&path)?;
    let mut actions = read.actions;
    if let Some(n) = a.last {
        let start = actions.len().saturating_sub(n);
        actions.drain(..start);
    }
    let mut notes = String::new();
    if read.skipped_lines > 0 {
        notes += &format!(
            "({} malformed line(s) in {} skipped)\n",
            read.skipped_lines,
            path.display()
        );
    }
    if a.stats {
        let st = stats(&actions);
        let json = serde_json::to_value(&st).expect("stats serialize");
        return Ok((json, format!("{}{notes}", stats_text(&st))));
    }
    let json = serde_json::to_value(&actions).expect("actions serialize");
    let text = if actions.is_empty() && a.file.is_some() {
        format!("no manager actions recorded in {}\n{notes}", path.display())
    } else if actions.is_empty() {
        format!(
            "no manager actions recorded in {} (the manager writes there when it runs \
             outside ComfyUI; inside ComfyUI: --file <ComfyUI>/user/memwarden/history.jsonl)\n{notes}",
            path.display()
        )
    } else {
        format!("{}{notes}", history_text(&actions))
    };
    Ok((json, text))
}
