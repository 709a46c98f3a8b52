//! `memwarden serve`: a standalone Prometheus exporter for machines and containers
//! without ComfyUI. One snapshot per scrape, no background sampling; read-only (GET
//! only, nothing can be changed through it); loopback unless `--listen` names
//! another address.
//!
//! The server is std's `TcpListener`, answering one request per connection in turn.
//! An exporter serves one path to one scraper a few times a minute, and it must
//! stay small (goal: under 5 MB resident, under 0.1 % of a core at one scrape a
//! second): an HTTP crate would bring a thread pool or an async runtime and parse
//! far more of HTTP than `GET /metrics` needs. What is parsed here is the request
//! line and the `Accept` header, with a size cap and timeouts so a slow or hostile
//! client cannot hold the exporter.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use clap::Args;
use memwarden_core::{Error, ProcessScope, SnapshotOptions};
use memwarden_metrics::Format;

/// The port when `--listen` is not given. The Prometheus wiki's exporter range
/// (9100-9999) is fully allocated, 9187 being postgres_exporter's; 10187 is outside
/// it and not an IANA service name in /etc/services.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10187";

/// The largest request head read (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct ServeArgs {
    /// Address and port to listen on. Loopback unless named here: any other
    /// address is reachable from the network (a warning says so).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: String,
    /// How many processes to export by RSS (memwarden_top_process_*). 0, the
    /// default, skips the scan of every /proc/PID, the costliest part of a scrape.
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = crate::parse_count)]
    top: usize,
    /// Skip the NVIDIA GPU query.
    #[arg(long)]
    no_gpu: bool,
}

/// Listen on `--listen` and answer scrapes until the process is stopped.
pub fn run(a: &ServeArgs) -> Result<(), Error> {
    let addr: SocketAddr = a.listen.trim().parse().map_err(|_| {
        Error::InvalidInput(format!(
            "--listen '{}' is not an address and port, e.g. {DEFAULT_LISTEN} or [::1]:10187",
            a.listen
        ))
    })?;
    let listener = TcpListener::bind(addr).map_err(|e| bind_error(addr, e))?;
    let bound = listener.local_addr().map_err(|e| Error::Io {
        context: format!("cannot read the address bound for {addr}"),
        source: e,
    })?;
    if !bound.ip().is_loopback() {
        eprintln!(
            "memwarden: warning: {bound} is reachable from the network: anyone who can \
             reach it can read this machine's memory figures and process names"
        );
    }
    eprintln!("memwarden: serving metrics on http://{bound}/metrics (GET only, read-only)");
    let opts = SnapshotOptions {
        top: a.top,
        scope: ProcessScope::Visible,
        gpu: !a.no_gpu,
        ..Default::default()
    };
    for conn in listener.incoming() {
        // A client that fails (resets, times out) costs its own answer only.
        match conn {
            Ok(stream) => {
                if let Err(e) = answer(stream, &opts) {
                    eprintln!("memwarden: a request failed: {e}");
                }
            }
            Err(e) => eprintln!("memwarden: could not accept a connection: {e}"),
        }
    }
    Ok(())
}

/// Why `bind` failed, in words and with the exit code that fits.
fn bind_error(addr: SocketAddr, e: std::io::Error) -> Error {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::AddrInUse => Error::Io {
            context: format!(
                "cannot listen on {addr}: the port is in use by another process \
                 (pick another with --listen)"
            ),
            source: e,
        },
        ErrorKind::AddrNotAvailable => Error::InvalidInput(format!(
            "cannot listen on {addr}: no network interface of this machine has that address"
        )),
        ErrorKind::PermissionDenied => Error::PermissionDenied {
            what: format!("listening on {addr}"),
            needs: "a port above 1023, or root / CAP_NET_BIND_SERVICE".into(),
        },
        _ => Error::Io {
            context: format!("cannot listen on {addr}"),
            source: e,
        },
    }
}

/// What a request asked for: its method, path (query dropped) and Accept header.
struct Request {
    method: String,
    path: String,
    accept: Option<String>,
}

/// Read the request head (up to the blank line) and parse what is needed of it.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version)) = (first.next(), first.next(), first.next())
    else {
        return Ok(None);
    };
    if !version.starts_with("HTTP/") {
        return Ok(None);
    }
    let accept = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_string());
    Ok(Some(Request {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or("").to_string(),
        accept,
    }))
}

/// Answer one connection: one request, one response, then close.
fn answer(mut stream: TcpStream, opts: &SnapshotOptions) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let (status, ctype, body, allow) = match read_request(&mut stream)? {
        None => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "not an HTTP request\n".to_string(),
            false,
        ),
        Some(r) => route(&r, opts),
    };
    let allow = if allow { "Allow: GET\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// Status, content type, body, and whether to send `Allow: GET` (a 405).
fn route(r: &Request, opts: &SnapshotOptions) -> (&'static str, &'static str, String, bool) {
    const TEXT: &str = "text/plain; charset=utf-8";
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/metrics") => match memwarden_core::collect(opts) {
            Ok(snap) => {
                let format = Format::from_accept(r.accept.as_deref());
                (
                    "200 OK",
                    format.content_type(),
                    memwarden_metrics::encode(&snap, None, format),
                    false,
                )
            }
            Err(e) => (
                "500 Internal Server Error",
                TEXT,
                format!("snapshot failed: {e}\n"),
                false,
            ),
        },
        ("GET", "/") => (
            "200 OK",
            "text/html; charset=utf-8",
            "<html><head><title>memwarden</title></head><body><h1>memwarden exporter</h1>\
             <p><a href=\"/metrics\">/metrics</a>: memory, swap, cgroup, PSI and GPU figures \
             in Prometheus text (read-only).</p></body></html>\n"
                .to_string(),
            false,
        ),
        (_, "/" | "/metrics") => (
            "405 Method Not Allowed",
            TEXT,
            "only GET is served\n".to_string(),
            true,
        ),
        _ => (
            "404 Not Found",
            TEXT,
            "not found: the metrics are at /metrics\n".to_string(),
            false,
        ),
    }
}
