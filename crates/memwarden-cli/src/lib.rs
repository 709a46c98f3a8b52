//! `memwarden`: the command-line face of memwarden-core. Argument parsing, output
//! format and exit codes only; every probe and action lives in the core crate.
//!
//! A library so that the Python wheel's `memwarden` entry point runs this very code.
//! [`run`] never exits the process: it returns the exit code, so it is safe to call
//! from inside a long-lived host such as ComfyUI.

mod serve;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use memwarden_core::act::{self, PageoutOptions, PurgeOptions};
use memwarden_core::error::exit_code;
use memwarden_core::render::{self, RenderOptions};
use memwarden_core::{
    schema, units, Error, ErrorReport, PageoutAdvice, ProcessScope, SnapshotOptions, SCHEMA_VERSION,
};
use serde::Serialize;

mod headroom;
mod history;
mod watch;

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 failure, 2 bad usage or input, 3 no such process, 4 permission denied,
5 not supported here (kernel, cgroup version, read-only /proc/sys), 6 refused by the swap
check, 7 protected process (PID 1, kernel thread, zombie), 8 --auto found none or several,
9 refused by the headroom guard (a load that cannot fit under the memory limit).
Every command takes --json (schema: `memwarden schema`). NO_COLOR disables colour.";

#[derive(Parser)]
#[command(name = "memwarden", version, about = "See and reclaim RAM, VRAM and swap for AI generation workloads (ComfyUI first)", after_help = AFTER_HELP)]
struct Cli {
    /// Print machine-readable JSON (versioned schema) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Colour the text output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Full report: a process, system RAM and swap, container limit, pressure, top processes, GPUs.
    Check(CheckArgs),
    /// One line: `RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)`.
    Status,
    /// Page the idle memory of another process out to swap (process_madvise).
    Trim(TrimArgs),
    /// sync and drop the page cache (Linux, root); purge the standby list (Windows, Administrator).
    PurgeCache(PurgeArgs),
    /// Ask the kernel to reclaim memory from this process's cgroup (cgroup v2 memory.reclaim).
    Reclaim(ReclaimArgs),
    /// Live full-screen view: RAM, swap, pressure, GPUs and processes (q quits).
    Watch(watch::WatchArgs),
    /// How far from the memory limit that binds (container, host, job object), and
    /// what is watched; --watch prints each fall through the reserve.
    Headroom(headroom::HeadroomArgs),
    /// The background manager's actions and statistics, from its history file.
    History(history::HistoryArgs),
    /// Serve Prometheus metrics over HTTP (GET /metrics; loopback by default, read-only).
    Serve(serve::ServeArgs),
    /// Print the JSON Schema of a --json output (list the names without NAME).
    Schema {
        /// snapshot, status, pageout-report, purge-report, reclaim-report, heap-trim-report, error,
        /// manager-action
        name: Option<String>,
    },
}

#[derive(Args)]
struct CheckArgs {
    /// Process to report on (default: memwarden itself).
    #[arg(long, allow_negative_numbers = true)]
    pid: Option<i64>,
    /// How many processes to list by RSS (0 = none).
    #[arg(long, default_value = "10", allow_hyphen_values = true, value_parser = parse_count)]
    top: usize,
    /// Also read USS and PSS (smaps_rollup) for the process and the top list.
    #[arg(long)]
    uss: bool,
    /// Which processes the top list covers.
    #[arg(long, value_enum, default_value_t = Scope::Visible)]
    scope: Scope,
    /// Skip the NVIDIA GPU query.
    #[arg(long)]
    no_gpu: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scope {
    /// Every process visible in /proc (the container, in a container with its own PID namespace).
    Visible,
    /// Processes in memwarden's own memory cgroup and below.
    Cgroup,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["pid", "auto"]))]
struct TrimArgs {
    /// PID of the process to trim.
    #[arg(long, allow_negative_numbers = true)]
    pid: Option<i64>,
    /// Find the ComfyUI process by its command line (error if none or several).
    #[arg(long)]
    auto: bool,
    /// MADV_COLD: only mark pages as first to go under pressure, instead of paging out now.
    #[arg(long)]
    cold: bool,
    /// Swap that must stay free beyond what is paged out (e.g. 1G, 512M).
    #[arg(long, default_value = "1G", allow_hyphen_values = true, value_parser = parse_size)]
    min_swap_free: u64,
    /// Page out even when the swap check refuses (the report says it was forced).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct PurgeArgs {
    /// Also drop reclaimable slab: dentries and inodes (drop_caches=3). Windows:
    /// also purge the whole standby list (PurgeStandbyList), not only its
    /// low-priority pages.
    #[arg(long)]
    slab: bool,
    /// Compact free memory afterwards (/proc/sys/vm/compact_memory). Windows:
    /// empty every process's working set first (EmptyWorkingSets).
    #[arg(long)]
    compact: bool,
}

#[derive(Args)]
struct ReclaimArgs {
    /// How much to reclaim, e.g. 512M or 2G.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_size)]
    bytes: u64,
}

fn parse_size(s: &str) -> Result<u64, String> {
    units::parse_size(s).map_err(|e| match e {
        Error::InvalidInput(m) => m,
        e => e.to_string(),
    })
}

fn parse_count(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| format!("'{s}' is not a count (a whole number, 0 or more)"))
}

struct Output {
    json: bool,
    render: RenderOptions,
}

/// Write `s` to stdout. A closed pipe (`memwarden check | head`) ends the output
/// quietly, as for any Unix filter; any other failure (`> /dev/full`, a full disk)
/// is an error: the report did not reach its reader.
fn write_stdout(s: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Io {
            context: "cannot write to standard output".into(),
            source: e,
        }),
    }
}

impl Output {
    fn emit<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(RenderOptions) -> String,
    ) -> Result<(), Error> {
        let s = if self.json {
            serde_json::to_string_pretty(value).expect("report serializes") + "\n"
        } else {
            text(self.render)
        };
        write_stdout(&s)
    }
}

fn dispatch(cli: &Cli, out: &Output) -> Result<(), Error> {
    match &cli.command {
        Command::Check(a) => check(a, out),
        Command::Status => {
            let snap = memwarden_core::collect(&SnapshotOptions {
                top: 0,
                ..Default::default()
            })?;
            let st = render::status(&snap);
            out.emit(&st, |_| format!("{}\n", st.status))
        }
        Command::Trim(a) => trim(a, out),
        Command::PurgeCache(a) => {
            let report = act::purge_cache(PurgeOptions {
                slab: a.slab,
                compact: a.compact,
            })?;
            out.emit(&report, |r| render::purge_report(&report, r))
        }
        Command::Reclaim(a) => {
            let report = act::reclaim(a.bytes)?;
            out.emit(&report, |r| render::reclaim_report(&report, r))
        }
        Command::Watch(a) => watch::watch(a, out.json, out.render.color),
        Command::Headroom(a) => headroom::run(a, out.json),
        Command::History(a) => {
            let (json, text) = history::history_output(a)?;
            out.emit(&json, |_| text)
        }
        Command::Serve(a) => serve::run(a),
        Command::Schema { name } => print_schema(name.as_deref(), out),
    }
}

fn check(a: &CheckArgs, out: &Output) -> Result<(), Error> {
    let snap = memwarden_core::collect(&SnapshotOptions {
        pid: a.pid.map(memwarden_core::parse_pid).transpose()?,
        detailed: a.uss,
        top: a.top,
        scope: match a.scope {
            Scope::Visible => ProcessScope::Visible,
            Scope::Cgroup => ProcessScope::Cgroup,
        },
        gpu: !a.no_gpu,
    })?;
    out.emit(&snap, |r| render::check_report(&snap, r))
}

/// A progress bar on a terminal's stderr (never with --json).
fn progress_bar(out: &Output) -> Option<ProgressBar> {
    (!out.json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} paging out {bytes}/{total_bytes} [{bar:30}] {binary_bytes_per_sec}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    })
}

fn trim(a: &TrimArgs, out: &Output) -> Result<(), Error> {
    // With --auto, every error says which process was chosen.
    let (pid, chosen) = match a.pid {
        Some(p) => (p, String::new()),
        None => {
            let p = act::auto_target()?;
            let chosen = format!("--auto chose PID {} ({}): ", p.pid, p.cmdline);
            (p.pid as i64, chosen)
        }
    };
    let opts = PageoutOptions {
        advice: if a.cold {
            PageoutAdvice::Cold
        } else {
            PageoutAdvice::Pageout
        },
        min_swap_free: a.min_swap_free,
        force: a.force,
        knobs: memwarden_core::render::swap::Knobs::cli(),
    };
    let bar = progress_bar(out);
    let mut progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let report = act::pageout(pid, &opts, &mut progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = report.map_err(|e| e.prefixed(&chosen))?;
    out.emit(&report, |r| render::pageout_report(&report, r))
}

fn print_schema(name: Option<&str>, out: &Output) -> Result<(), Error> {
    let Some(n) = name else {
        let list: Vec<_> = schema::SCHEMAS
            .iter()
            .map(|(n, c)| serde_json::json!({"name": n, "printed_by": c}))
            .collect();
        return out.emit(&list, |_| {
            schema::SCHEMAS
                .iter()
                .map(|(n, c)| format!("{n:<18} {c}\n"))
                .collect()
        });
    };
    let text = schema::schema_json(n).ok_or_else(|| {
        let names: Vec<_> = schema::SCHEMAS.iter().map(|(n, _)| *n).collect();
        Error::InvalidInput(format!(
            "unknown schema '{n}' (one of: {})",
            names.join(", ")
        ))
    })?;
    write_stdout(&text)
}

/// Did the command line ask for JSON? (`--json` anywhere before a `--`.) Needed
/// when the arguments do not parse, so that even a usage error is a JSON object.
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json" || a.to_str().is_some_and(|s| s.starts_with("--json=")))
}

/// A clap usage error as memwarden reports it: one line, without clap's "error: "
/// prefix, usage block and help hint.
fn usage_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let body = text.split("\n\nUsage:").next().unwrap_or(&text);
    let body = body
        .split("\n\nFor more information")
        .next()
        .unwrap_or(body);
    let line = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

fn report_error(json: bool, e: &Error) -> i32 {
    let code = e.exit_code();
    if json {
        let report = ErrorReport {
            schema_version: SCHEMA_VERSION,
            error: e.to_string(),
            kind: e.kind().into(),
            exit_code: code,
            swap_check: match e {
                Error::SwapRefused { verdict, .. } => Some((**verdict).clone()),
                _ => None,
            },
            refusal: match e {
                Error::HeadroomRefused { refusal, .. } => Some((**refusal).clone()),
                _ => None,
            },
        };
        let _ = write_stdout(&(serde_json::to_string_pretty(&report).expect("serializes") + "\n"));
    }
    eprintln!("memwarden: error: {e}");
    code
}

/// Run the CLI with `args` (program name first) and return its exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = e.print();
            return exit_code::OK;
        }
        Err(e) if wants_json(&args) => {
            let err = Error::InvalidInput(usage_message(&e));
            let code = report_error(true, &err);
            debug_assert_eq!(code, exit_code::USAGE);
            return exit_code::USAGE;
        }
        Err(e) => {
            let _ = e.print();
            return exit_code::USAGE;
        }
    };
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    let out = Output {
        json: cli.json,
        render: RenderOptions { color },
    };
    match dispatch(&cli, &out) {
        Ok(()) => exit_code::OK,
        Err(e) => report_error(out.json, &e),
    }
}
