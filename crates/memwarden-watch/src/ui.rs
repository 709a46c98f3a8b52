//! Drawing a [`View`] into a ratatui frame: the meters (RAM against the effective
//! limit, swap, pressure, each GPU with its processes), the process list and the
//! keys. Lays out what the view model holds; computes no figure of its own.

use memwarden_core::units::format_bytes;
use memwarden_core::PressureLevel;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use crate::keys::State;
use crate::options::SortKey;
use crate::view::{GpuView, Meter, Order, ProcRow, View};

/// The smallest terminal the view is drawn in; below it, one message says so.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;
/// Process rows always kept when GPU lines compete for the height.
const MIN_LIST_ROWS: u16 = 3;

const KEYS: &str =
    "q quit  m/p/c/s sort (again: reverse)  +/- refresh  \u{2191}\u{2193} PgUp PgDn scroll";

/// Styles, or none at all without colour (NO_COLOR, `--no-color`): then only
/// reverse video marks the list's header.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    fn header(self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// Green, yellow, red as a bar fills.
    fn level(self, percent: f64) -> Style {
        self.fg(if percent >= 90.0 {
            Color::Red
        } else if percent >= 70.0 {
            Color::Yellow
        } else {
            Color::Green
        })
    }

    fn pressure(self, level: PressureLevel) -> Style {
        self.fg(match level {
            PressureLevel::None | PressureLevel::Low => Color::Green,
            PressureLevel::Moderate => Color::Yellow,
            PressureLevel::High | PressureLevel::Critical => Color::Red,
        })
    }
}

/// `[|||||     ]` filled to `percent`, `width` cells in all (brackets included).
fn bar(percent: f64, width: usize, theme: Theme) -> Vec<Span<'static>> {
    let inner = width.saturating_sub(2);
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * inner as f64).round() as usize;
    vec![
        Span::raw("["),
        Span::styled("|".repeat(filled), theme.level(percent)),
        Span::raw(" ".repeat(inner - filled)),
        Span::raw("]"),
    ]
}

/// `RAM   [||||      ] 6.00 GiB / 16.00 GiB (37.5%)  host RAM`; the note goes
/// first when the line is short, then the bar shrinks (never below 10 cells).
fn meter_line(m: &Meter, width: u16, theme: Theme) -> Line<'static> {
    let figures = m.figures();
    let width = width as usize;
    let fixed = 6 + 1 + figures.len();
    let with_note = fixed + 2 + m.note.chars().count();
    let (bar_width, note) = if width >= with_note + 12 {
        (width - with_note, format!("  {}", m.note))
    } else {
        (width.saturating_sub(fixed).max(10), String::new())
    };
    let mut spans = vec![Span::styled(format!("{:<6}", m.label), theme.bold())];
    spans.extend(bar(m.percent, bar_width, theme));
    spans.push(Span::raw(format!(" {figures}")));
    spans.push(Span::styled(note, theme.fg(Color::DarkGray)));
    Line::from(spans)
}

fn pressure_lines(view: &View, width: u16, theme: Theme) -> Vec<Line<'static>> {
    if view.pressure.is_empty() {
        return vec![Line::from(vec![
            Span::styled("PSI   ", theme.bold()),
            Span::raw("not available (kernel < 4.20 or psi=0)"),
        ])];
    }
    // Two bars share the line: "PSI   system some [...] 12.50%  full [...] 3.25%".
    // "PSI   " 6, "system some " 12, " 12.50%" 8, "  full " 7, "  avg10" 7.
    let half = (width as usize).saturating_sub(6 + 12 + 8 + 7 + 8 + 7) / 2;
    let half = half.clamp(6, 40);
    view.pressure
        .iter()
        .map(|p| {
            let mut spans = vec![
                Span::styled("PSI   ", theme.bold()),
                Span::raw(format!("{:<7}some ", p.scope)),
            ];
            spans.extend(bar(p.some_avg10, half, theme));
            spans.push(Span::raw(format!(" {:>6.2}%", p.some_avg10)));
            match p.full_avg10 {
                Some(f) => {
                    spans.push(Span::raw("  full "));
                    spans.extend(bar(f, half, theme));
                    spans.push(Span::raw(format!(" {f:>6.2}%")));
                }
                None => spans.push(Span::raw("  full n/a")),
            }
            spans.push(Span::styled("  avg10", theme.fg(Color::DarkGray)));
            Line::from(spans)
        })
        .collect()
}

fn gpu_lines(g: &GpuView, width: u16, theme: Theme) -> Vec<Line<'static>> {
    let mut meter = g.vram.clone();
    if let Some(u) = g.utilization {
        meter.note = format!("{}  util {u}%", meter.note);
    }
    let mut lines = vec![meter_line(&meter, width, theme)];
    for p in &g.processes {
        let used = p.used.map_or_else(|| "n/a".to_string(), format_bytes);
        lines.push(Line::from(vec![
            Span::raw(format!("      {:>7}  ", p.pid)),
            Span::styled(format!("{:<16} ", p.name), theme.fg(Color::Cyan)),
            Span::raw(format!("{used:>11}  {}", p.kind)),
        ]));
    }
    lines
}

/// The GPU section, cut to `max` lines (the last one then says how many are hidden).
fn gpu_section(view: &View, width: u16, max: usize, theme: Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = view
        .gpus
        .iter()
        .flat_map(|g| gpu_lines(g, width, theme))
        .collect();
    if let Some(note) = &view.gpu_note {
        lines.push(Line::from(vec![
            Span::styled("GPU   ", theme.bold()),
            Span::styled(note.clone(), theme.fg(Color::DarkGray)),
        ]));
    }
    if lines.len() > max {
        let hidden = lines.len() + 1 - max;
        lines.truncate(max.saturating_sub(1));
        if max > 0 {
            lines.push(Line::raw(format!(
                "      ... {hidden} more GPU lines (enlarge the terminal)"
            )));
        }
    }
    lines
}

fn title_line(view: &View, state: &State, theme: Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled("memwarden watch", theme.bold().patch(theme.fg(Color::Cyan))),
        Span::raw(format!(
            "  refresh {:.1}s  sort {}  kernel {}  pressure ",
            state.interval.as_secs_f64(),
            state.order.key,
            view.kernel
        )),
        Span::styled(
            format!("{:?}", view.pressure_level).to_lowercase(),
            theme.pressure(view.pressure_level),
        ),
    ])
}

/// A column title, with ▼ or ▲ when the list is sorted by it.
fn column(title: &str, key: SortKey, order: Order) -> String {
    if order.key != key {
        return title.to_string();
    }
    let arrow = if order.descending {
        '\u{25bc}'
    } else {
        '\u{25b2}'
    };
    format!("{title}{arrow}")
}

fn process_table(rows: &[ProcRow], order: Order, theme: Theme) -> Table<'static> {
    let header = Row::new(vec![
        format!("{:>8}", column("PID", SortKey::Pid, order)),
        column("NAME", SortKey::Command, order),
        format!("{:>11}", column("RSS", SortKey::Memory, order)),
        format!("{:>11}", column("SWAP", SortKey::Swap, order)),
        "  MEM%".to_string(),
        "COMMAND".to_string(),
    ])
    .style(theme.header());
    let body = rows.iter().map(|p| {
        Row::new(vec![
            Cell::from(format!("{:>8}", p.pid)),
            Cell::from(p.name.clone()).style(theme.fg(Color::Cyan)),
            Cell::from(format!("{:>11}", format_bytes(p.rss))),
            Cell::from(format!("{:>11}", format_bytes(p.swap))),
            Cell::from(format!("{:>6.1}", p.mem_percent)).style(theme.level(p.mem_percent)),
            Cell::from(p.command.clone()),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    Table::new(body, widths).header(header).column_spacing(1)
}

fn list_title(view: &View, state: &State, shown: usize) -> Line<'static> {
    let first = if shown == 0 { 0 } else { state.scroll + 1 };
    Line::raw(format!(
        "PROCESSES  {first}-{} of {}  (kernel threads excluded)",
        state.scroll + shown,
        view.scanned.max(view.processes.len() as u32)
    ))
}

fn too_small(frame: &mut Frame, area: Rect) {
    let msg = format!(
        "terminal too small ({}x{}), need at least {MIN_WIDTH}x{MIN_HEIGHT}; q quits",
        area.width, area.height
    );
    frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
}

/// Draw the view; returns how many process rows fit (0 when the terminal is too
/// small), the page size for scrolling.
pub fn draw(frame: &mut Frame, view: &View, state: &State, theme: Theme) -> usize {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return 0;
    }
    let w = area.width;
    let mut top = vec![
        title_line(view, state, theme),
        meter_line(&view.ram, w, theme),
    ];
    top.push(match &view.swap {
        Some(s) => meter_line(s, w, theme),
        None => Line::from(vec![
            Span::styled("Swap  ", theme.bold()),
            Span::raw("none configured"),
        ]),
    });
    top.extend(pressure_lines(view, w, theme));
    // Title line of the list, its header, the keys at the bottom.
    let reserved = top.len() as u16 + 3 + MIN_LIST_ROWS;
    let gpu_room = area.height.saturating_sub(reserved) as usize;
    top.extend(gpu_section(view, w, gpu_room, theme));
    let top_h = (top.len() as u16).min(area.height);
    frame.render_widget(
        Paragraph::new(top),
        Rect {
            height: top_h,
            ..area
        },
    );

    let list_y = area.y + top_h;
    let rows = area.height.saturating_sub(top_h + 3) as usize;
    let start = state.scroll.min(view.processes.len());
    let end = (start + rows).min(view.processes.len());
    let shown = &view.processes[start..end];
    let line = |y: u16| Rect {
        y,
        height: 1,
        ..area
    };
    frame.render_widget(
        Paragraph::new(list_title(view, state, shown.len())),
        line(list_y),
    );
    let table_area = Rect {
        y: list_y + 1,
        height: rows as u16 + 1,
        ..area
    };
    frame.render_widget(process_table(shown, state.order, theme), table_area);
    let keys = Paragraph::new(Line::styled(KEYS, theme.fg(Color::DarkGray)));
    frame.render_widget(keys, line(area.y + area.height - 1));
    rows
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::Terminal;

    use super::*;
    use crate::fixture;
    use crate::view::build;

    fn render(view: &View, state: &State, color: bool, w: u16, h: u16) -> (Buffer, usize) {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut rows = 0;
        t.draw(|f| rows = draw(f, view, state, Theme { color }))
            .unwrap();
        (t.backend().buffer().clone(), rows)
    }

    fn lines(b: &Buffer) -> Vec<String> {
        (0..b.area.height)
            .map(|y| (0..b.area.width).map(|x| b[(x, y)].symbol()).collect())
            .collect()
    }

    fn screen(snap: &memwarden_core::Snapshot, key: SortKey, w: u16, h: u16) -> Vec<String> {
        let state = State::new(key, Duration::from_secs(1));
        let (b, _) = render(&build(snap, state.order), &state, true, w, h);
        lines(&b)
    }

    fn line_with<'a>(screen: &'a [String], needle: &str) -> &'a str {
        screen
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", screen.join("\n")))
    }

    #[test]
    fn meters_show_the_figures() {
        let s = screen(&fixture::host(), SortKey::Memory, 120, 30);
        assert!(
            s[0].starts_with(
                "memwarden watch  refresh 1.0s  sort memory  kernel 6.1.0-test  pressure moderate"
            ),
            "{}",
            s[0]
        );
        let ram = line_with(&s, "RAM ");
        assert!(
            ram.contains("] 6.00 GiB / 16.00 GiB (37.5%)  host RAM"),
            "{ram}"
        );
        // 37.5% of the bar's 120 - 6 - 1 - 28 - 2 - 8 - 2 = 73 inner cells: 27 filled.
        assert_eq!(ram.matches('|').count(), 27, "{ram}");
        let swap = line_with(&s, "Swap");
        assert!(swap.contains("1.00 GiB / 4.00 GiB (25.0%)"), "{swap}");
        let psi = line_with(&s, "PSI");
        assert!(psi.contains("system some ["), "{psi}");
        assert!(psi.contains(" 12.50%  full ["), "{psi}");
        assert!(psi.contains("  3.25%  avg10"), "{psi}");
        let gpu0 = line_with(&s, "GPU0");
        assert!(
            gpu0.contains("22.00 GiB / 24.00 GiB (91.7%)  NVIDIA GeForce RTX 4090  util 87%"),
            "{gpu0}"
        );
        let p = line_with(&s, "   4242  python3");
        assert!(p.contains("20.00 GiB  compute"), "{p}");
        let hidden = line_with(&s, "31337");
        assert!(
            hidden.contains("(not visible here)") && hidden.contains("n/a  graphics"),
            "{hidden}"
        );
        assert!(line_with(&s, "GPU1").contains("8.00 GiB / 80.00 GiB (10.0%)"));
        assert!(s[29].starts_with("q quit  m/p/c/s sort"), "{}", s[29]);
    }

    #[test]
    fn the_container_limit_is_the_ram_total() {
        let s = screen(&fixture::container(), SortKey::Memory, 100, 20);
        let ram = line_with(&s, "RAM ");
        assert!(
            ram.contains("3.00 GiB / 4.00 GiB (75.0%)  container limit; host RAM 16.00 GiB"),
            "{ram}"
        );
        assert!(line_with(&s, "Swap").contains("none configured"));
        assert!(line_with(&s, "cgroup").contains("full n/a"));
        assert!(line_with(&s, "GPU ").contains("no NVIDIA GPU visible (NVML library not found)"));
        // MEM% is of the limit: python3's 2 GiB are half of the 4 GiB.
        let row = line_with(&s, "python3 main.py");
        assert!(row.contains("2.00 GiB         0 B   50.0 python3"), "{row}");
    }

    #[test]
    fn the_list_is_sorted_with_a_marker_on_its_column() {
        let s = screen(&fixture::host(), SortKey::Memory, 120, 30);
        let header = line_with(&s, "COMMAND");
        assert!(
            header.contains("RSS\u{25bc}") && header.contains(" PID "),
            "{header}"
        );
        let order = |s: &[String]| -> Vec<u32> {
            let h = s.iter().position(|l| l.contains("COMMAND")).unwrap();
            s[h + 1..h + 5]
                .iter()
                .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
                .collect()
        };
        assert_eq!(order(&s), [4242, 900, 77, 1300]);
        assert!(line_with(&s, "PROCESSES").contains("1-4 of 312"));
        let s = screen(&fixture::host(), SortKey::Pid, 120, 30);
        assert!(line_with(&s, "COMMAND").contains("PID\u{25b2}"));
        assert_eq!(order(&s), [77, 900, 1300, 4242]);
        let s = screen(&fixture::host(), SortKey::Swap, 120, 30);
        assert!(line_with(&s, "COMMAND").contains("SWAP\u{25bc}"));
        assert_eq!(order(&s), [1300, 77, 900, 4242]);
        let row = line_with(&s, "   1300 zsh");
        assert!(row.contains("16.00 MiB    2.00 GiB    0.1 [zsh]"), "{row}");
    }

    #[test]
    fn scrolling_shows_a_window_of_the_list() {
        let snap = fixture::host();
        let mut state = State::new(SortKey::Pid, Duration::from_secs(1));
        state.scroll = 2;
        // No GPU lines fit at this height: 12 - (title, RAM, swap, PSI) - 3 - 3 = 2,
        // so the GPU section is cut and says so.
        let (b, rows) = render(&build(&snap, state.order), &state, true, 80, 12);
        let s = lines(&b);
        assert_eq!(rows, 3);
        assert!(line_with(&s, "PROCESSES").contains("3-4 of 312"));
        assert!(line_with(&s, "GPU lines").contains("more GPU lines (enlarge the terminal)"));
        let h = s.iter().position(|l| l.contains("COMMAND")).unwrap();
        assert!(s[h + 1].trim_start().starts_with("1300 "), "{}", s[h + 1]);
        assert!(s[h + 2].trim_start().starts_with("4242 "), "{}", s[h + 2]);
    }

    #[test]
    fn a_small_terminal_gets_one_message() {
        for (w, h) in [(59, 40), (120, 11), (20, 3), (1, 1), (0, 0)] {
            let state = State::new(SortKey::Memory, Duration::from_secs(1));
            let (b, rows) = render(&build(&fixture::host(), state.order), &state, true, w, h);
            assert_eq!(rows, 0);
            let text = lines(&b).join("");
            if w >= 60 {
                let expected = format!("terminal too small ({w}x{h}), need at least 60x12");
                assert!(text.starts_with(&expected), "{text}");
            } else if w >= 20 {
                assert!(text.starts_with("terminal too small"), "{text:?}");
            }
        }
    }

    fn colored(b: &Buffer) -> usize {
        b.content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    }

    #[test]
    fn no_color_draws_no_colour() {
        let snap = fixture::host();
        let state = State::new(SortKey::Memory, Duration::from_secs(1));
        let view = build(&snap, state.order);
        let (plain, _) = render(&view, &state, false, 120, 30);
        assert_eq!(colored(&plain), 0);
        let (color, _) = render(&view, &state, true, 120, 30);
        assert!(colored(&color) > 100);
        // The same text either way.
        assert_eq!(lines(&plain), lines(&color));
        // Without colour the list's header is in reverse video.
        let h = lines(&plain)
            .iter()
            .position(|l| l.contains("COMMAND"))
            .unwrap();
        assert!(plain[(0, h as u16)].modifier.contains(Modifier::REVERSED));
    }
}
