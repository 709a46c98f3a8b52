//! The terminal while the view runs: raw mode, the alternate screen and a hidden
//! cursor, all given back on the way out, whether the view ends, fails or panics.

use std::io::{self, Stdout};
use std::panic::{self, PanicHookInfo};
use std::sync::Arc;

use memwarden_core::Error;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

pub fn io_error(context: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: context.to_string(),
        source,
    }
}

/// Put the terminal back as it was: cooked mode, the main screen, the cursor.
fn restore() -> io::Result<()> {
    let raw = disable_raw_mode();
    execute!(io::stdout(), LeaveAlternateScreen, Show)?;
    raw
}

/// The terminal, taken over for the view until dropped.
pub struct Session {
    pub terminal: Term,
    /// The panic hook that was in place before ours (the host's, in Python).
    previous_hook: Option<Arc<Hook>>,
}

impl Session {
    pub fn start() -> Result<Session, Error> {
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))
            .map_err(io_error("cannot open the terminal"))?;
        // A panic prints its message only after the terminal is back, or the
        // message would be lost on the alternate screen.
        let previous: Arc<Hook> = Arc::new(panic::take_hook());
        let chained = Arc::clone(&previous);
        panic::set_hook(Box::new(move |info| {
            let _ = restore();
            chained(info);
        }));
        // From here on, dropping the session (a failure below included) restores.
        let mut session = Session {
            terminal,
            previous_hook: Some(previous),
        };
        enable_raw_mode().map_err(io_error("cannot put the terminal in raw mode"))?;
        execute!(io::stdout(), EnterAlternateScreen, Hide)
            .map_err(io_error("cannot switch to the alternate screen"))?;
        session
            .terminal
            .clear()
            .map_err(io_error("cannot clear the terminal"))?;
        Ok(session)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = restore();
        if let Some(previous) = self.previous_hook.take() {
            // Ours goes; the one before it is back in place.
            drop(panic::take_hook());
            panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}
