//! The keys of the view, as a pure state machine: a key press changes the
//! [`State`] and says what the loop has to do next ([`Effect`]).

use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::options::{step_interval, SortKey};
use crate::view::Order;

/// What the user has chosen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub order: Order,
    pub interval: Duration,
    /// The first process row shown.
    pub scroll: usize,
}

/// What the loop does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The key means nothing here.
    Nothing,
    /// Draw again from the current snapshot.
    Redraw,
    /// Take a new snapshot now (the list needs other processes), then draw.
    Refresh,
    /// Leave the view.
    Quit,
}

/// The size of the process list: how many rows fit, how many processes exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSize {
    pub page: usize,
    pub total: usize,
}

impl ListSize {
    fn max_scroll(self) -> usize {
        self.total.saturating_sub(self.page)
    }
}

impl State {
    pub fn new(sort: SortKey, interval: Duration) -> Self {
        Self {
            order: Order::new(sort),
            interval,
            scroll: 0,
        }
    }

    /// Keep the scroll position inside the list (it may have shrunk).
    pub fn clamp_scroll(&mut self, list: ListSize) {
        self.scroll = self.scroll.min(list.max_scroll());
    }

    fn scroll_to(&mut self, to: usize, list: ListSize) -> Effect {
        let to = to.min(list.max_scroll());
        if to == self.scroll {
            return Effect::Nothing;
        }
        self.scroll = to;
        Effect::Redraw
    }

    fn sort_by(&mut self, key: SortKey) -> Effect {
        self.order = if self.order.key == key {
            // The same key again reverses the order.
            Order {
                key,
                descending: !self.order.descending,
            }
        } else {
            Order::new(key)
        };
        self.scroll = 0;
        Effect::Refresh
    }

    fn set_interval(&mut self, faster: bool) -> Effect {
        let next = step_interval(self.interval, faster);
        if next == self.interval {
            return Effect::Nothing;
        }
        self.interval = next;
        Effect::Redraw
    }

    /// Apply one key event. Only presses (and auto-repeats) count: Windows also
    /// reports releases.
    pub fn on_key(&mut self, key: KeyEvent, list: ListSize) -> Effect {
        if key.kind == KeyEventKind::Release {
            return Effect::Nothing;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => Effect::Quit,
            KeyCode::Char('q') | KeyCode::Esc => Effect::Quit,
            KeyCode::Char(ch) if !ctrl => self.on_char(ch, list),
            KeyCode::Up => self.scroll_to(self.scroll.saturating_sub(1), list),
            KeyCode::Down => self.scroll_to(self.scroll + 1, list),
            KeyCode::PageUp => self.scroll_to(self.scroll.saturating_sub(list.page), list),
            KeyCode::PageDown => self.scroll_to(self.scroll + list.page, list),
            KeyCode::Home => self.scroll_to(0, list),
            KeyCode::End => self.scroll_to(usize::MAX, list),
            _ => Effect::Nothing,
        }
    }

    fn on_char(&mut self, ch: char, list: ListSize) -> Effect {
        if let Some(key) = SortKey::ALL.into_iter().find(|k| k.key() == ch) {
            return self.sort_by(key);
        }
        match ch {
            '+' | '=' => self.set_interval(true),
            '-' | '_' => self.set_interval(false),
            'k' => self.scroll_to(self.scroll.saturating_sub(1), list),
            'j' => self.scroll_to(self.scroll + 1, list),
            'g' => self.scroll_to(0, list),
            'G' => self.scroll_to(usize::MAX, list),
            _ => Effect::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ch(c: char) -> KeyEvent {
        key(KeyCode::Char(c))
    }

    const LIST: ListSize = ListSize {
        page: 10,
        total: 25,
    };

    fn state() -> State {
        State::new(SortKey::Memory, Duration::from_secs(1))
    }

    #[test]
    fn q_esc_and_ctrl_c_quit() {
        let mut s = state();
        assert_eq!(s.on_key(ch('q'), LIST), Effect::Quit);
        assert_eq!(s.on_key(key(KeyCode::Esc), LIST), Effect::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(s.on_key(ctrl_c, LIST), Effect::Quit);
        // Ctrl-C did not also sort by command.
        assert_eq!(s.order, Order::new(SortKey::Memory));
    }

    #[test]
    fn sort_keys_switch_and_reverse() {
        let mut s = state();
        s.scroll = 5;
        assert_eq!(s.on_key(ch('p'), LIST), Effect::Refresh);
        assert_eq!(
            s.order,
            Order {
                key: SortKey::Pid,
                descending: false
            }
        );
        assert_eq!(s.scroll, 0, "a new order starts at the top");
        assert_eq!(s.on_key(ch('p'), LIST), Effect::Refresh);
        assert_eq!(
            s.order,
            Order {
                key: SortKey::Pid,
                descending: true
            }
        );
        s.on_key(ch('c'), LIST);
        assert_eq!(
            s.order,
            Order {
                key: SortKey::Command,
                descending: false
            }
        );
        s.on_key(ch('s'), LIST);
        assert_eq!(
            s.order,
            Order {
                key: SortKey::Swap,
                descending: true
            }
        );
        s.on_key(ch('m'), LIST);
        assert_eq!(
            s.order,
            Order {
                key: SortKey::Memory,
                descending: true
            }
        );
    }

    #[test]
    fn plus_and_minus_change_the_refresh_rate() {
        let mut s = state();
        assert_eq!(s.on_key(ch('+'), LIST), Effect::Redraw);
        assert_eq!(s.interval, Duration::from_millis(500));
        s.on_key(ch('-'), LIST);
        s.on_key(ch('-'), LIST);
        assert_eq!(s.interval, Duration::from_secs(2));
        for _ in 0..10 {
            s.on_key(ch('+'), LIST);
        }
        assert_eq!(s.interval, Duration::from_millis(100));
        assert_eq!(s.on_key(ch('+'), LIST), Effect::Nothing, "at the fastest");
    }

    #[test]
    fn arrows_and_pages_scroll_within_the_list() {
        let mut s = state();
        assert_eq!(s.on_key(key(KeyCode::Up), LIST), Effect::Nothing);
        assert_eq!(s.on_key(key(KeyCode::Down), LIST), Effect::Redraw);
        assert_eq!(s.scroll, 1);
        s.on_key(key(KeyCode::PageDown), LIST);
        assert_eq!(s.scroll, 11);
        s.on_key(key(KeyCode::PageDown), LIST);
        assert_eq!(s.scroll, 15, "the last page is full");
        assert_eq!(s.on_key(key(KeyCode::Down), LIST), Effect::Nothing);
        s.on_key(key(KeyCode::PageUp), LIST);
        assert_eq!(s.scroll, 5);
        s.on_key(key(KeyCode::Home), LIST);
        assert_eq!(s.scroll, 0);
        s.on_key(key(KeyCode::End), LIST);
        assert_eq!(s.scroll, 15);
        s.on_key(ch('k'), LIST);
        assert_eq!(s.scroll, 14);
        // The list shrank below one page: back to the top.
        s.clamp_scroll(ListSize { page: 10, total: 4 });
        assert_eq!(s.scroll, 0);
    }

    #[test]
    fn releases_and_other_keys_do_nothing() {
        let mut s = state();
        let mut release = ch('q');
        release.kind = KeyEventKind::Release;
        assert_eq!(s.on_key(release, LIST), Effect::Nothing);
        assert_eq!(s.on_key(ch('x'), LIST), Effect::Nothing);
        assert_eq!(s.on_key(key(KeyCode::F(5)), LIST), Effect::Nothing);
        assert_eq!(s, state());
    }
}
