//! `memwarden serve` for real: the exporter on a free loopback port, scraped over
//! TCP; its text checked by `promtool check metrics`; a real Prometheus server
//! scraping it every second, whose HTTP API must return this machine's
//! /proc/meminfo figures; and every query of the Grafana dashboard evaluated by
//! that server. promtool and prometheus come from the Debian package `prometheus`;
//! without them those tests skip, saying so.

// Linux only: the figures are compared with /proc/meminfo.
#![cfg_attr(not(target_os = "linux"), no_main)]
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A child process killed and reaped when dropped (the exporter, Prometheus).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `memwarden serve --listen 127.0.0.1:0 --no-gpu` and the address it bound, read
/// from its "serving metrics on http://ADDR/metrics" line.
fn start_exporter() -> (Running, SocketAddr) {
    start_exporter_on("127.0.0.1:0")
}

fn start_exporter_on(listen: &str) -> (Running, SocketAddr) {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", listen, "--no-gpu"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start memwarden serve");
    let stderr = child.stderr.take().unwrap();
    let child = Running(child);
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("read the exporter's stderr");
        if let Some(rest) = line.split("serving metrics on http://").nth(1) {
            let addr = rest.split("/metrics").next().unwrap().parse().unwrap();
            return (child, addr);
        }
    }
    panic!("memwarden serve exited without saying where it listens");
}

/// One HTTP/1.0 request; the status code, the head and the body.
fn http(addr: SocketAddr, method: &str, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{accept}\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

/// A /proc/meminfo field in bytes.
fn meminfo_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The value of the sample line `name value` (a series without labels).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|v| v.parse().unwrap())
}

/// GET /metrics answers the snapshot in 0.0.4 text (OpenMetrics when asked), `/`
/// points to it, other paths are 404 and other methods 405.
fn routes_and_formats() {
    let (_exporter, addr) = start_exporter();
    let (code, head, body) = http(addr, "GET", "/metrics", None);
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let total =
        sample(&body, "memwarden_memory_total_bytes").expect("memwarden_memory_total_bytes");
    assert_eq!(total as u64, meminfo_bytes("MemTotal"));
    assert_eq!(
        sample(&body, "memwarden_swap_total_bytes").unwrap() as u64,
        meminfo_bytes("SwapTotal")
    );
    assert!(!body.contains("# EOF"));

    let om = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (code, head, body) = http(addr, "GET", "/metrics?x=1", Some(om));
    assert_eq!(code, 200);
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"));

    let (code, _, body) = http(addr, "GET", "/", None);
    assert_eq!(code, 200);
    assert!(body.contains("href=\"/metrics\""));
    for method in ["POST", "PUT", "DELETE", "HEAD"] {
        let (code, head, _) = http(addr, method, "/metrics", None);
        assert_eq!(code, 405, "{method}: {head}");
        assert!(head.contains("Allow: GET"), "{head}");
    }
    assert_eq!(http(addr, "GET", "/metrics/x", None).0, 404);
    assert_eq!(http(addr, "GET", "/debug", None).0, 404);
    // Not HTTP at all: 400, and the exporter keeps serving.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"hello\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert_eq!(http(addr, "GET", "/metrics", None).0, 200);
}

/// A port already in use, an address that is not one and an address this machine
/// does not have: each a clear error and its exit code, before anything is served.
fn bad_listen_addresses_are_clear_errors() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let cases: [(&str, i32, &str); 4] = [
        (&port, 1, "the port is in use by another process"),
        ("localhost:x", 2, "is not an address and port"),
        ("127.0.0.1", 2, "is not an address and port"),
        (
            "192.0.2.1:10187",
            2,
            "no network interface of this machine has that address",
        ),
    ];
    for (listen, code, words) in cases {
        let out = memwarden(&["serve", "--listen", listen]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "--listen {listen}: {err}");
        assert!(err.contains(words), "--listen {listen}: {err}");
        assert!(!err.contains("serving metrics"), "{err}");
    }
}

/// An address other than loopback is served only when named, with a warning.
fn non_loopback_warns() {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--no-gpu"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _child = Running(child);
    let first = BufReader::new(stderr).lines().next().unwrap().unwrap();
    assert!(first.contains("is reachable from the network"), "{first}");
}

/// `promtool check metrics` (parse and lint) finds nothing to say.
fn promtool_check_metrics_is_clean(ctx: &mut Ctx) {
    if Command::new("promtool").arg("--version").output().is_err() {
        skip!(ctx, "promtool not installed (Debian package prometheus)");
    }
    let (_exporter, addr) = start_exporter();
    let (_, _, body) = http(addr, "GET", "/metrics", None);
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{body}"
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A free loopback port (bound, read, let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus server in a temporary directory, scraping `target` every second.
struct Prometheus {
    _child: Running,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_prometheus(target: SocketAddr) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("memwarden-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: memwarden\n    static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus");
    Prometheus {
        _child: Running(child),
        addr,
        dir,
    }
}

/// URL-encode a query for /api/v1/query.
fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// /api/v1/query: the parsed JSON answer.
fn query(p: &Prometheus, q: &str) -> serde_json::Value {
    let (code, _, body) = http(
        p.addr,
        "GET",
        &format!("/api/v1/query?query={}", encode_query(q)),
        None,
    );
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{code} {e}: {body}"));
    assert_eq!(v["status"], "success", "query {q}: {body}");
    v
}

/// The value of the single series `q` returns.
fn query_value(p: &Prometheus, q: &str) -> f64 {
    let v = query(p, q);
    let r = &v["data"]["result"];
    assert_eq!(r.as_array().map(Vec::len), Some(1), "query {q}: {v}");
    r[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// Wait (at most 90 s: a limit on waiting, not a timing check) for the first scrape.
fn wait_for_scrape(p: &Prometheus) {
    let t0 = Instant::now();
    loop {
        let up = TcpStream::connect(p.addr).is_ok()
            && query(p, "memwarden_memory_total_bytes")["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
        if up {
            return;
        }
        let log = std::fs::read_to_string(p.dir.join("prometheus.log")).unwrap_or_default();
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "no scrape in 90 s; prometheus said:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A real Prometheus scrapes the exporter; its API returns this machine's figures.
fn prometheus_scrapes_the_exporter(ctx: &mut Ctx) {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        skip!(ctx, "prometheus not installed (Debian package prometheus)");
    }
    let (_exporter, target) = start_exporter();
    let prom = start_prometheus(target);
    wait_for_scrape(&prom);
    assert_eq!(query_value(&prom, "up{job=\"memwarden\"}"), 1.0);
    let total = query_value(&prom, "memwarden_memory_total_bytes");
    assert_eq!(total as u64, meminfo_bytes("MemTotal"));
    let swap = query_value(&prom, "memwarden_swap_total_bytes");
    assert_eq!(swap as u64, meminfo_bytes("SwapTotal"));
    // A ratio between 0 and 1, and one build_info series with our version.
    let ratio = query_value(&prom, "memwarden_memory_used_ratio");
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    let v = query(&prom, "memwarden_build_info");
    assert_eq!(
        v["data"]["result"][0]["metric"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{v}"
    );
    if Path::new("/proc/pressure/memory").exists() {
        let waiting = query_value(
            &prom,
            "memwarden_pressure_memory_waiting_seconds_total{scope=\"system\"}",
        );
        assert!(waiting >= 0.0);
    }
    let (_, _, scraped) = http(target, "GET", "/metrics", None);
    dashboard_queries_evaluate(&prom, &scraped);
}

/// Every query of docs/grafana/memwarden.json, with Grafana's variables put in,
/// is accepted by the real Prometheus; one over series this machine has (and no
/// range function, which needs two scrapes) returns data.
fn dashboard_queries_evaluate(prom: &Prometheus, scraped: &str) {
    let text = std::fs::read_to_string(repo_root().join("docs/grafana/memwarden.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = dash["panels"].as_array().expect("panels");
    let mut n = 0;
    for target in panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
    {
        let expr = target["expr"].as_str().expect("expr");
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$instance", ".+")
            .replace("$job", ".+");
        let v = query(prom, &expr);
        let here = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("memwarden_"))
            .all(|name| scraped.lines().any(|l| l.starts_with(name)));
        if here && !expr.contains('[') {
            assert!(
                v["data"]["result"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty()),
                "{expr}: {v}"
            );
        }
        n += 1;
    }
    assert!(n >= 5, "only {n} queries in the dashboard");
}

test_main!(
    routes_and_formats,
    bad_listen_addresses_are_clear_errors,
    non_loopback_warns,
    promtool_check_metrics_is_clean,
    prometheus_scrapes_the_exporter,
);
