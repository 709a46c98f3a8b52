//! `memwarden watch`: a live full-screen view of memory, in the manner of htop and
//! nvitop. RAM against the effective limit (the container's when one binds), swap,
//! memory pressure (PSI), each GPU with the processes holding its memory, and the
//! processes by memory, refreshed from one snapshot per interval.
//!
//! The pure parts are apart and tested without a terminal: [`view`] builds what a
//! screen shows from a [`Snapshot`], [`ui`] draws it (tested on ratatui's
//! `TestBackend`), [`keys`] is the key handling as a state machine, [`options`]
//! the arguments. [`run`] ties them to a real terminal (`term`).

pub mod keys;
pub mod options;
mod term;
pub mod ui;
pub mod view;

#[cfg(test)]
mod fixture;

use std::io::IsTerminal;
use std::time::Instant;

use memwarden_core::{collect, Error, Snapshot, SnapshotOptions};
use ratatui::crossterm::event::{self, Event};

use crate::keys::{Effect, ListSize, State};
pub use crate::options::{
    no_color_env, parse_interval, SortKey, WatchOptions, DEFAULT_INTERVAL, MAX_INTERVAL,
    MIN_INTERVAL,
};
use crate::term::{io_error, Session, Term};
use crate::ui::Theme;

/// Why the view cannot start without a terminal, and what to use instead.
pub fn not_a_terminal() -> Error {
    Error::InvalidInput(
        "standard output is not a terminal: memwarden watch needs one; \
         use `memwarden status` or `memwarden check --json`"
            .into(),
    )
}

/// One snapshot, with as many processes as the list can show from `state.scroll`
/// on. Sorted by anything but memory, largest first, the list needs every process.
fn take(state: &State, page: usize) -> Result<Snapshot, Error> {
    let top = if state.order.key == SortKey::Memory && state.order.descending {
        state.scroll + page.max(1)
    } else {
        usize::MAX
    };
    collect(&SnapshotOptions {
        top,
        ..Default::default()
    })
}

/// Processes the list can scroll over.
fn list_size(snap: &Snapshot, page: usize) -> ListSize {
    ListSize {
        page,
        total: (snap.top_processes.scanned as usize).max(snap.top_processes.processes.len()),
    }
}

/// Whether the window of the list reaches past the processes taken.
fn needs_more(snap: &Snapshot, state: &State, page: usize) -> bool {
    let taken = snap.top_processes.processes.len();
    state.scroll + page > taken && taken < snap.top_processes.scanned as usize
}

/// Wait for a key, a resize or the next refresh, whichever comes first.
fn next_event(deadline: Instant, state: &mut State, list: ListSize) -> Result<Effect, Error> {
    let wait = deadline.saturating_duration_since(Instant::now());
    if !event::poll(wait).map_err(io_error("cannot read the terminal"))? {
        return Ok(Effect::Refresh);
    }
    Ok(
        match event::read().map_err(io_error("cannot read the terminal"))? {
            Event::Key(k) => state.on_key(k, list),
            Event::Resize(..) => Effect::Redraw,
            _ => Effect::Nothing,
        },
    )
}

fn event_loop(terminal: &mut Term, opts: &WatchOptions) -> Result<(), Error> {
    let theme = Theme { color: opts.color };
    let mut state = State::new(opts.sort, opts.interval);
    let size = terminal
        .size()
        .map_err(io_error("cannot read the terminal size"))?;
    let mut page = size.height as usize;
    let mut snap = take(&state, page)?;
    let mut taken_at = Instant::now();
    let mut redraw = true;
    loop {
        if redraw {
            // The list may have shrunk since the last key.
            state.clamp_scroll(list_size(&snap, page));
            let view = view::build(&snap, state.order);
            let mut rows = 0;
            terminal
                .draw(|f| rows = ui::draw(f, &view, &state, theme))
                .map_err(io_error("cannot draw on the terminal"))?;
            // A new page size (the first frame, a resize): draw again with it.
            // Too small a terminal draws no list: the last page size stays.
            if rows > 0 && rows != page {
                page = rows;
                continue;
            }
        }
        let effect = next_event(
            taken_at + state.interval,
            &mut state,
            list_size(&snap, page),
        )?;
        redraw = effect != Effect::Nothing;
        match effect {
            Effect::Quit => return Ok(()),
            Effect::Refresh => {
                snap = take(&state, page)?;
                taken_at = Instant::now();
            }
            Effect::Redraw if needs_more(&snap, &state, page) => {
                snap = take(&state, page)?;
                taken_at = Instant::now();
            }
            Effect::Redraw | Effect::Nothing => {}
        }
    }
}

/// Run the view until `q`, Esc or Ctrl-C. Needs a terminal on standard output;
/// the terminal is restored however the view ends (a panic included).
pub fn run(opts: &WatchOptions) -> Result<(), Error> {
    if !std::io::stdout().is_terminal() {
        return Err(not_a_terminal());
    }
    if opts.interval < MIN_INTERVAL || opts.interval > MAX_INTERVAL {
        return Err(Error::InvalidInput(format!(
            "the refresh interval must be between {} and {} seconds, not {}",
            MIN_INTERVAL.as_secs_f64(),
            MAX_INTERVAL.as_secs_f64(),
            opts.interval.as_secs_f64()
        )));
    }
    let mut session = Session::start()?;
    event_loop(&mut session.terminal, opts)
}
