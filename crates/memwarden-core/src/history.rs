//! The manager's history file: one [`ManagerAction`] per line (JSON lines), capped
//! to the last `keep` actions. A line that does not parse (a crash mid-write, an
//! edit by hand) is skipped and counted, never fatal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::ManagerAction;

/// Where the manager keeps its history outside ComfyUI (and where `memwarden
/// history` looks by default): `$XDG_STATE_HOME/memwarden/history.jsonl`, else
/// `~/.local/state/memwarden/history.jsonl`; on Windows
/// `%LOCALAPPDATA%\memwarden\history.jsonl`. None when none of these is set.
pub fn default_path() -> Option<PathBuf> {
    Some(state_directory()?.join("history.jsonl"))
}

/// The folder memwarden keeps its files in outside ComfyUI (the history, the leak
/// detector's history, what model loads took): `$XDG_STATE_HOME/memwarden`, else
/// `~/.local/state/memwarden`; on Windows `%LOCALAPPDATA%\memwarden`. None when
/// none of these is set.
pub fn state_directory() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("LOCALAPPDATA")
    } else {
        env("XDG_STATE_HOME").or_else(|| env("HOME").map(|h| h.join(".local").join("state")))
    }?;
    Some(base.join("memwarden"))
}

/// What a history file held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryRead {
    /// Oldest first.
    pub actions: Vec<ManagerAction>,
    /// Lines that were not a valid action.
    pub skipped_lines: usize,
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Every action in `path`, oldest first; a missing file is an empty history.
pub fn read(path: &Path) -> Result<HistoryRead> {
    let text = match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HistoryRead::default()),
        Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
    };
    let mut out = HistoryRead::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<ManagerAction>(line) {
            Ok(a) => out.actions.push(a),
            Err(_) => out.skipped_lines += 1,
        }
    }
    Ok(out)
}

/// Appends to one history file and keeps it to the last `keep` actions: once it
/// holds twice that many lines it is rewritten (to a temporary file, then renamed
/// over) with the last `keep`.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    keep: usize,
    lines: usize,
}

impl HistoryFile {
    /// Opens (creating its folder) `path`; returns what it already held.
    pub fn open(path: &Path, keep: usize) -> Result<(Self, HistoryRead)> {
        if keep == 0 {
            return Err(Error::InvalidInput("keep must be at least 1".into()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        let held = read(path)?;
        let f = Self {
            path: path.to_path_buf(),
            keep,
            lines: held.actions.len() + held.skipped_lines,
        };
        Ok((f, held))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds `a` as the last line; compacts when the file reached twice `keep`.
    pub fn append(&mut self, a: &ManagerAction) -> Result<()> {
        let line = serde_json::to_string(a).expect("an action serializes") + "\n";
        let ctx = || format!("appending to {}", self.path.display());
        {
            // Closed before a compaction renames over the file: Windows refuses to
            // replace a file this process still holds open.
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io_err(ctx()))?;
            f.write_all(line.as_bytes()).map_err(io_err(ctx()))?;
        }
        self.lines += 1;
        if self.lines >= 2 * self.keep {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with its last `keep` valid actions.
    pub fn compact(&mut self) -> Result<()> {
        let held = read(&self.path)?;
        let start = held.actions.len().saturating_sub(self.keep);
        let tmp = self.path.with_extension("jsonl.tmp");
        let ctx = format!("writing {}", tmp.display());
        let mut f = File::create(&tmp).map_err(io_err(ctx.clone()))?;
        for a in &held.actions[start..] {
            let line = serde_json::to_string(a).expect("an action serializes") + "\n";
            f.write_all(line.as_bytes()).map_err(io_err(ctx.clone()))?;
        }
        f.sync_all().map_err(io_err(ctx))?;
        drop(f);
        fs::rename(&tmp, &self.path)
            .map_err(io_err(format!("replacing {}", self.path.display())))?;
        self.lines = held.actions.len() - start;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ActionOutcome;
    use crate::policy::stats::tests::action;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("memwarden-history-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn appends_persists_and_caps_to_the_last_keep() {
        let d = dir("cap");
        let p = d.join("sub/history.jsonl");
        let (mut f, held) = HistoryFile::open(&p, 3).unwrap();
        assert_eq!(held, HistoryRead::default());
        for i in 0..7 {
            f.append(&action(i, "prompt_end", 1, 1.0, ActionOutcome::Freed))
                .unwrap();
        }
        // 6 lines reached 2 x keep: compacted to 3, then the 7th appended.
        let r = read(&p).unwrap();
        let at: Vec<u64> = r.actions.iter().map(|a| a.at_unix_ms).collect();
        assert_eq!(at, [3, 4, 5, 6]);
        // Reopened (a restart): what was there comes back.
        let (_, held) = HistoryFile::open(&p, 3).unwrap();
        assert_eq!(held.actions.len(), 4);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn malformed_lines_are_skipped_and_counted() {
        let d = dir("bad");
        fs::create_dir_all(&d).unwrap();
        let p = d.join("history.jsonl");
        let good =
            serde_json::to_string(&action(9, "pressure", 5, 2.0, ActionOutcome::Freed)).unwrap();
        fs::write(&p, format!("{{\"half\": \n{good}\nnot json\n\n{good}\n")).unwrap();
        let r = read(&p).unwrap();
        assert_eq!((r.actions.len(), r.skipped_lines), (2, 2));
        let (mut f, _) = HistoryFile::open(&p, 1).unwrap();
        f.compact().unwrap();
        let r = read(&p).unwrap();
        assert_eq!((r.actions.len(), r.skipped_lines), (1, 0));
        assert!(read(&d.join("absent.jsonl")).unwrap().actions.is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn keep_zero_is_refused() {
        let e = HistoryFile::open(Path::new("/nonexistent/x.jsonl"), 0).unwrap_err();
        assert_eq!(
            e.exit_code(),
            Error::InvalidInput(String::new()).exit_code()
        );
    }
}
