"""memwarden's VRAM half on a real NVIDIA GPU, in one run (``scripts/gpu-check run``).

    python tests/gpu/gpu_check.py run --out DIR [--comfy-tarball TGZ] [--deadline-epoch T]
                                      [--stand-in --nvml-stub LIB]
    python tests/gpu/gpu_check.py worker KIND [MIB]       (the children the run starts)

Run by ``scripts/gpu-check run`` with a Python that can import torch and memwarden
(and ComfyUI's requirements). Each step answers one question and asserts its answer:

- machine: what runs (driver, GPU, torch, memwarden), and ``memwarden check --json`` answers;
- figures: ``memwarden check --json`` per-GPU total/used/free against ``nvidia-smi`` and
  ``torch.cuda.mem_get_info``, within 1 % of the GPU's memory;
- holder: a child holding 4 GiB of VRAM is listed as a GPU process with its memory and
  its PID as this PID namespace sees it (joined with /proc), as ``nvidia-smi`` lists it;
- cuda-map: CUDA ordinals against NVML indices and UUIDs, also under
  ``CUDA_VISIBLE_DEVICES`` (an index, and the ``GPU-<uuid>`` form);
- torch-api: the allocator's figures through ``memwarden.torch_memory``, and
  ``memwarden.cleanup`` resetting the peak and returning the cached memory to the
  driver, as NVML measures this process;
- checkpoints: two SD1.5 checkpoints with random weights (tests/e2e/sd_checkpoint.py,
  2.1 GB each, written on the machine while the steps above run);
- comfyui-*: ComfyUI 0.28.0 on the GPU, a fresh server for each way of freeing memory:
  checkpoint A, then the cleanup, then B, then the cleanup again, measuring ComfyUI's
  VRAM (NVML, this process and the device) and RAM (its RSS, the system's used) above
  its idle figures after each. Ways: none (and there the panel's snapshot route, its
  live feed and ``/memwarden/metrics`` are checked against the device), the Memory
  Cleaner (Force) node, the VRAM Optimizer node (Aggressive), ComfyUI's ``POST /free``.

After every step DIR/gpu-check.json (every figure and check) and DIR/gpu-check.txt
(the summary, the ComfyUI figures side by side) are written again, so a run cut short
still leaves what it found. Each step runs under its own time limit and none starts
past the run's deadline.

With --stand-in (no GPU here) the NVML stand-in library (built from
crates/memwarden-cli/tests/fixtures/nvml_stub.c) describes one H100: the NVML,
snapshot, panel and metrics parts run against it for real and ComfyUI runs on the CPU
with two small TAESD models as A and B; what needs CUDA is reported as
"skipped: stand-in" with the reason. Exit status: 0 no step failed, 1 a step failed,
2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Callable

REPO = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
MIB = 1 << 20
GIB = 1 << 30
#: What the holder child allocates, and the torch-api worker.
HOLD_MIB = 4096
TORCH_API_MIB = 2048
#: Figures of two sources agree when they differ by at most this share of the GPU's memory.
AGREE = 0.01
#: Seconds kept back at the end of the run to write the report.
RESERVE_S = 8.0
#: The ways of freeing memory compared in ComfyUI, in the order they run.
ARMS = {
    "none": "no cleanup (control); the panel's snapshot, feed and /metrics",
    "cleaner": "Memory Cleaner (Force) node",
    "optimizer": "VRAM Optimizer node (Aggressive)",
    "free": "ComfyUI's own POST /free (unload_models, free_memory)",
}
POINTS = ("idle", "A", "A_cleaned", "B", "B_cleaned")
LINK_NAME = "ComfyUI-memwarden"
DEFERRED = "[memwarden] deferred trim after ComfyUI freed cached outputs"

#: The stand-in's GPU (the H100 80GB HBM3 of the lent machines).
STUB_NAME = "NVIDIA H100 80GB HBM3"
STUB_TOTAL = 81559 * MIB
STUB_USED = 6 * GIB
STUB_DRIVER = "580.159.04"
STUB_UUID0 = "GPU-5ab0c0de-0000-4000-8000-000000000000"


# --- steps ---------------------------------------------------------------------------


class Skip(Exception):
    """The step cannot run here; the message says why."""


class StepFailed(Exception):
    """A precondition of the rest of the step failed (already recorded as a check)."""


class StepTimeout(BaseException):
    """The step's time limit or the run's deadline passed (a BaseException so that no
    ``except Exception`` in a step swallows it)."""


@dataclass
class Step:
    name: str
    title: str
    status: str = "running"
    reason: str = ""
    limit_s: float = 0.0
    seconds: float = 0.0
    checks: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> bool:
        self.checks.append({"ok": bool(ok), "what": what})
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        return bool(ok)

    def require(self, ok: bool, what: str) -> None:
        if not self.check(ok, what):
            raise StepFailed(what)

    def skip_part(self, what: str, reason: str) -> None:
        self.skipped.append(f"{what}: {reason}")
        print(f"  skip {what}: {reason}", flush=True)

    def info(self, what: str) -> None:
        print(f"  info {what}", flush=True)

    def defer(self, fn: Callable[[], None]) -> None:
        self.cleanups.append(fn)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "limit_s": round(self.limit_s, 1),
            "seconds": round(self.seconds, 1),
            "checks": self.checks,
            "skipped_parts": self.skipped,
            "figures": self.figures,
        }


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise StepTimeout("time limit")


def _on_term(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise StepTimeout(f"terminated by signal {signum}")


@dataclass
class Ctx:
    stand_in: bool
    python: str
    out: Path
    work: Path
    deadline: float
    env: dict[str, str]
    report: Report
    stub_lib: str | None = None
    #: Models A and B are SD1.5 checkpoints (on the GPU; with --sd15 in stand-in
    #: mode too), else two small TAESD models.
    sd15: bool = True
    comfy_tarball: Path | None = None
    comfy_dir: Path | None = None
    #: Model names ComfyUI's loaders take for A and B.
    models: dict[str, str] = field(default_factory=dict)
    generators: list[Generator] = field(default_factory=list)
    #: The stand-in's machine for this run's own memwarden (set in stand-in mode).
    anchor: subprocess.Popen[bytes] | None = None
    stopped: str = ""

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def memwarden(self) -> list[str]:
        exe = shutil.which("memwarden", path=self.env.get("PATH"))
        return [exe] if exe else [self.python, "-m", "memwarden"]


def run_step(ctx: Ctx, step: Step, limit_s: float, least_s: float, fn: Callable[[Ctx, Step], None]) -> Step:
    """Run one step under its time limit (never past the run's deadline; not at all
    with less than ``least_s`` left), record what it found, run its clean-ups, and
    write the report."""
    ctx.report.steps.append(step)
    left = ctx.left() - RESERVE_S
    step.limit_s = min(limit_s, left)
    print(f"== {step.name}: {step.title}", flush=True)
    if ctx.stopped:
        return finish(ctx, step, "skipped", f"not run: {ctx.stopped}")
    if step.limit_s < least_s:
        return finish(
            ctx,
            step,
            "skipped",
            f"time budget: {max(left, 0):.0f} s left before the run's deadline, {least_s:.0f} needed",
        )
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, step.limit_s)
    status, reason = "", ""
    try:
        fn(ctx, step)
    except Skip as e:
        status, reason = "skipped", str(e)
    except StepFailed as e:
        status, reason = "failed", str(e)
    except StepTimeout as e:
        if "signal" in str(e):
            ctx.stopped = str(e)
            status, reason = "failed", f"stopped while it ran: {e}"
        else:
            status, reason = "failed", f"ran past its time limit of {step.limit_s:.0f} s"
    except Exception as e:  # noqa: BLE001 - one step's error must not stop the others
        status, reason = "failed", f"{type(e).__name__}: {e}"
        step.figures["traceback"] = traceback.format_exc()[-4000:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        run_cleanups(step)
        step.seconds = time.monotonic() - t0
    return finish(ctx, step, status, reason)


def run_cleanups(step: Step) -> None:
    for fn in reversed(step.cleanups):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a clean-up that fails is said, the others still run
            print(f"  note: clean-up failed: {type(e).__name__}: {e}", flush=True)
    step.cleanups.clear()


def finish(ctx: Ctx, step: Step, status: str, reason: str) -> Step:
    failed = [c["what"] for c in step.checks if not c["ok"]]
    if status == "skipped" and failed:
        status = "failed"
    if not status:
        if failed:
            status, reason = "failed", f"{len(failed)} check(s) failed: {'; '.join(failed)[:500]}"
        elif step.checks:
            status = "passed"
        elif step.skipped:
            status, reason = "skipped", "; ".join(step.skipped)
        else:
            status, reason = "failed", "the step asserted nothing"
    step.status, step.reason = status, reason
    print(f"   -> {status}{': ' + reason if reason else ''} ({step.seconds:.1f} s)", flush=True)
    ctx.report.write()
    return step


# --- the report ------------------------------------------------------------------------


@dataclass
class Report:
    out: Path
    mode: str
    started: float = field(default_factory=time.time)
    machine: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    arms: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        counts = {s: sum(1 for x in self.steps if x.status == s) for s in ("passed", "failed", "skipped")}
        return {
            "schema": 1,
            "mode": self.mode,
            "started_unix": round(self.started, 3),
            "seconds": round(time.time() - self.started, 1),
            "machine": self.machine,
            "counts": counts,
            "steps": [s.to_dict() for s in self.steps],
            "comfyui_side_by_side": self.arms,
        }

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.out / "gpu-check.json.partial"
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str) + "\n")
        os.replace(tmp, self.out / "gpu-check.json")
        (self.out / "gpu-check.txt").write_text(self.summary())

    def summary(self) -> str:
        d = self.to_dict()
        m = self.machine
        lines = [
            f"memwarden GPU check ({self.mode}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(self.started))}, "
            f"{d['seconds']:.0f} s",
            f"GPU: {m.get('gpu', '?')}; driver {m.get('driver', '?')}; torch {m.get('torch', '?')}; "
            f"memwarden {m.get('memwarden', '?')}; ComfyUI {m.get('comfyui', '?')}",
            f"steps: {d['counts']['passed']} passed, {d['counts']['failed']} failed, {d['counts']['skipped']} skipped",
            "",
        ]
        for s in self.steps:
            # Not "SKIPPED" at the start of a line: scripts/test collects those (printed once, at the end).
            status = "FAILED" if s.status == "failed" else s.status
            lines.append(f"{status:8} {s.name}: {s.title} ({s.seconds:.0f} s)")
            if s.reason:
                lines.append(f"         {s.reason}")
            lines.extend(f"         FAIL {c['what']}" for c in s.checks if not c["ok"])
            lines.extend(f"         skipped: {p}" for p in s.skipped)
        lines += ["", *side_by_side(self.arms)]
        return "\n".join(lines) + "\n"


def gib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / GIB:+.2f}"


def side_by_side(arms: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """ComfyUI's memory above its idle figures, per way of freeing it (GiB)."""
    if not arms:
        return ["ComfyUI side by side: no ComfyUI step ran"]
    head = "".join(f"{p:>22}" for p in POINTS[1:])
    lines = [
        "ComfyUI above idle, GiB: VRAM of ComfyUI's process (NVML) / RAM (its RSS) / device VRAM",
        f"{'':12}{head}",
    ]
    for arm, points in arms.items():
        cells = []
        for p in POINTS[1:]:
            x = points.get(p)
            if x is None:
                cells.append(f"{'-':>22}")
                continue
            cells.append(f"{gib(x.get('vram_process')):>7}/{gib(x.get('rss')):>6}/{gib(x.get('vram_device')):>7}")
        lines.append(f"{arm:12}{''.join(cells)}")
    return lines


# --- processes and tools ------------------------------------------------------------------


def sh(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def memwarden_json(ctx: Ctx, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``memwarden ARGS --json`` as a fresh process; raises with its stderr on failure."""
    out = sh([*ctx.memwarden(), *args, "--json"], env=env or ctx.env)
    if out.returncode != 0:
        raise StepFailed(f"memwarden {' '.join(args)} --json exited {out.returncode}: {out.stderr.strip()[-800:]}")
    data = json.loads(out.stdout)
    if not isinstance(data, dict):
        raise StepFailed(f"memwarden {' '.join(args)} --json: not a JSON object")
    return data


def check_json(ctx: Ctx, env: dict[str, str] | None = None) -> dict[str, Any]:
    return memwarden_json(ctx, "check", "--top", "0", env=env)


def nvidia_smi(*query: str) -> list[list[str]]:
    """Rows of ``nvidia-smi --query-...`` (csv, no header, no units)."""
    out = sh(["nvidia-smi", *query, "--format=csv,noheader,nounits"], timeout=60)
    if out.returncode != 0:
        raise StepFailed(f"nvidia-smi {' '.join(query)} exited {out.returncode}: {out.stdout}{out.stderr}"[:800])
    return [[c.strip() for c in line.split(",")] for line in out.stdout.splitlines() if line.strip()]


def smi_gpus() -> list[dict[str, Any]]:
    rows = nvidia_smi("--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,driver_version")
    return [
        {
            "index": int(r[0]),
            "uuid": r[1],
            "name": r[2],
            "total_bytes": int(r[3]) * MIB,
            "used_bytes": int(r[4]) * MIB,
            "free_bytes": int(r[5]) * MIB,
            "driver": r[6],
        }
        for r in rows
    ]


def smi_apps() -> list[dict[str, Any]]:
    rows = nvidia_smi("--query-compute-apps=pid,gpu_uuid,used_memory")
    return [
        {"pid": int(r[0]), "gpu_uuid": r[1], "used_bytes": int(r[2]) * MIB if r[2].isdigit() else None} for r in rows
    ]


def has_cuda(ctx: Ctx) -> tuple[bool, str]:
    """Whether this machine's torch sees a CUDA device, and what it said."""
    code = "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"
    out = sh([ctx.python, "-c", code], env=ctx.env, timeout=120)
    said = (out.stdout.strip() or out.stderr.strip()[-300:]) or f"exit {out.returncode}"
    return out.returncode == 0 and out.stdout.split()[-1:] == ["True"], said


def rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def nested_pid_namespace() -> bool:
    """True when this process's PID differs from the one the PID namespace above sees."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return len(line.split()) > 2
    return False


def agree(a: float, b: float, total: float) -> bool:
    return abs(a - b) <= AGREE * total


class Worker:
    """A child running ``gpu_check.py worker KIND``: JSON lines prefixed ``@@`` on its
    stdout; it ends when its stdin closes. Its stderr goes to a file in the work dir."""

    def __init__(self, ctx: Ctx, kind: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.err_path = ctx.work / f"worker-{kind}-{time.monotonic_ns()}.err"
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [ctx.python, str(THIS), "worker", kind, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
            env=env or ctx.env,
        )
        self.pid = self.proc.pid

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@"):
                data = json.loads(line[2:])
                if isinstance(data, dict):
                    return data
        raise StepFailed(f"worker {self.pid} ended (exit {self.proc.wait()}): {self.stderr()}")

    def ask(self, what: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stderr(self) -> str:
        self.err.flush()
        return self.err_path.read_text(errors="replace")[-1500:]

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.err.close()


# --- workers (children) -----------------------------------------------------------------


def emit(data: dict[str, Any]) -> None:
    print("@@" + json.dumps(data, default=str), flush=True)


def worker_main(kind: str, args: list[str]) -> int:
    torch: Any = importlib.import_module("torch")
    if kind == "figures":
        return worker_figures(torch)
    if kind == "hold":
        return worker_hold(torch, int(args[0]) if args else HOLD_MIB)
    if kind == "torch-api":
        return worker_torch_api(torch)
    print(f"unknown worker {kind!r}", file=sys.stderr)
    return 2


def device_rows(torch: Any) -> list[dict[str, Any]]:
    rows = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        props = torch.cuda.get_device_properties(i)
        uuid = str(getattr(props, "uuid", ""))
        rows.append(
            {
                "ordinal": i,
                "name": str(props.name),
                "uuid": uuid if uuid.startswith(("GPU-", "MIG-")) or not uuid else f"GPU-{uuid}",
                "free_bytes": int(free),
                "total_bytes": int(total),
                "used_bytes": int(total - free),
            }
        )
    return rows


def wait_lines(on_line: Callable[[str], dict[str, Any]]) -> None:
    for line in sys.stdin:
        emit(on_line(line.strip()))


def worker_figures(torch: Any) -> int:
    """Creates a CUDA context on every device, then answers each line with the
    driver's free/total as CUDA sees them."""
    if not torch.cuda.is_available():
        emit({"cuda": False, "devices": []})
        return 0
    for i in range(torch.cuda.device_count()):
        torch.zeros(1, device=f"cuda:{i}")
    emit({"cuda": True, "devices": device_rows(torch)})
    wait_lines(lambda _line: {"cuda": True, "devices": device_rows(torch)})
    return 0


def worker_hold(torch: Any, mib: int) -> int:
    """Allocates ``mib`` MiB on cuda:0 and holds it until stdin closes."""
    if not torch.cuda.is_available():
        emit({"cuda": False, "pid": os.getpid()})
        sys.stdin.read()
        return 0
    block = torch.empty(mib * MIB, dtype=torch.uint8, device="cuda:0")
    block.fill_(1)
    torch.cuda.synchronize()
    emit({"cuda": True, "pid": os.getpid(), "devices": device_rows(torch), "allocated": int(block.numel())})
    wait_lines(lambda _line: {"devices": device_rows(torch)})
    return 0


def nvml_own(memwarden: Any) -> dict[str, int | None]:
    """This process's VRAM and the device's used VRAM, as NVML reports them."""
    d = memwarden.snapshot(top=0).to_dict()
    mine = [p["used_bytes"] for p in d["gpu"]["processes"] if p["pid"] == os.getpid() and p["gpu_index"] == 0]
    devices = d["gpu"]["devices"]
    return {
        "process": sum(x or 0 for x in mine) if mine else None,
        "device": devices[0]["used_bytes"] if devices else None,
    }


def worker_torch_api(torch: Any) -> int:
    """The allocator scenario: allocate, free (cached), then memwarden.cleanup()."""
    memwarden: Any = importlib.import_module("memwarden")
    out: dict[str, Any] = {"cuda": bool(torch.cuda.is_available()), "pid": os.getpid()}
    if not out["cuda"]:
        out["torch_memory"] = [m.to_dict() for m in memwarden.torch_memory()]
        report = memwarden.cleanup("balanced")
        out["cleanup_steps"] = [s.__dict__ for s in report.steps]
        emit(out)
        return 0

    def figures() -> dict[str, Any]:
        torch.cuda.synchronize()
        return {
            "torch_memory": memwarden.torch_memory()[0].to_dict(),
            "direct": {
                "allocated": int(torch.cuda.memory_allocated(0)),
                "reserved": int(torch.cuda.memory_reserved(0)),
                "peak": int(torch.cuda.max_memory_allocated(0)),
            },
            "nvml": nvml_own(memwarden),
        }

    torch.zeros(1, device="cuda:0")
    out["base"] = figures()
    blocks = [torch.empty(TORCH_API_MIB // 4 * MIB, dtype=torch.uint8, device="cuda:0") for _ in range(4)]
    for block in blocks:
        block.fill_(1)
    out["allocated"] = figures()
    del blocks, block
    out["freed_cached"] = figures()
    report = memwarden.cleanup("balanced")
    out["cleanup_steps"] = [s.__dict__ for s in report.steps]
    out["cleanup_text"] = report.text
    out["after_cleanup"] = figures()
    emit(out)
    return 0


# --- ComfyUI ------------------------------------------------------------------------------


class Comfy:
    """ComfyUI's HTTP API on loopback."""

    def __init__(self, port: int, log_path: Path, proc: subprocess.Popen[bytes]) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.port = port
        self.log_path = log_path
        self.proc = proc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def raw(self, path: str, timeout: float = 30) -> tuple[str, str]:
        with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
            return r.headers.get("Content-Type", ""), r.read().decode()

    def get(self, path: str) -> Any:
        return json.loads(self.raw(path)[1])

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        req = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")[:2000]

    def run(self, prompt: dict[str, Any], timeout: float = 150) -> dict[str, Any]:
        code, body = self.post("/prompt", {"prompt": prompt, "client_id": "memwarden-gpu-check"})
        if code != 200:
            raise StepFailed(f"/prompt refused the workflow: {code} {json.dumps(body)[:1500]}")
        pid = body["prompt_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hist = self.get(f"/history/{pid}")
            if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
                entry = hist[pid]
                if entry["status"].get("status_str") != "success":
                    raise StepFailed(f"prompt failed: {json.dumps(entry['status'])[:2500]}")
                return dict(entry)
            if self.proc.poll() is not None:
                raise StepFailed(f"ComfyUI exited ({self.proc.returncode}) while running a prompt")
            time.sleep(0.25)
        raise StepFailed(f"prompt {pid} did not finish in {timeout:.0f} s")

    def wait_in_log(self, text: str, count: int, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.log().count(text) < count:
            time.sleep(0.25)
        return self.log().count(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process_group(proc: subprocess.Popen[Any]) -> None:
    """Stop a server this run started in its own process group, and what it started."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def comfy_command(ctx: Ctx, run_dir: Path, port: int) -> list[str]:
    cmd = [ctx.python, "main.py", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch"]
    cmd += ["--disable-api-nodes", "--front-end-root", str(ctx.work / "frontend")]
    cmd += ["--extra-model-paths-config", str(ctx.work / "extra_model_paths.yaml")]
    for sub in ("output", "temp", "input", "user"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    cmd += ["--output-directory", str(run_dir / "output"), "--temp-directory", str(run_dir / "temp")]
    cmd += ["--input-directory", str(run_dir / "input"), "--user-directory", str(run_dir / "user")]
    cmd += ["--database-url", "sqlite:///:memory:"]
    if ctx.stand_in:
        cmd.append("--cpu")
    return cmd


def start_comfy(ctx: Ctx, step: Step, name: str) -> Comfy:
    """A fresh ComfyUI server for this step (stopped by the step's clean-ups); its log
    is appended to DIR/comfyui.log when it stops."""
    assert ctx.comfy_dir is not None
    run_dir = ctx.work / f"run-{name}"
    port = free_port()
    log_path = run_dir / "comfyui.log"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")
    cmd = comfy_command(ctx, run_dir, port)
    proc = subprocess.Popen(
        cmd, cwd=ctx.comfy_dir, stdout=log, stderr=subprocess.STDOUT, env=ctx.env, start_new_session=True
    )
    api = Comfy(port, log_path, proc)

    def stop() -> None:
        stop_process_group(proc)
        log.close()
        with open(ctx.out / "comfyui.log", "a") as all_logs:
            text = log_path.read_text(errors="replace")
            all_logs.write(f"===== {name}: {' '.join(cmd)}\n{text[-3_000_000:]}\n")

    step.defer(stop)
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise StepFailed(f"ComfyUI exited ({proc.returncode}) before it answered: {api.log()[-2500:]}")
        try:
            node_info = api.get("/object_info")
            break
        except OSError:
            time.sleep(0.5)
    step.figures["comfyui_start_s"] = round(time.monotonic() - t0, 1)
    step.check("MemoryCleanerForce" in node_info and "VRAMOptimizer" in node_info, "ComfyUI lists memwarden's nodes")
    said = r"DynamicVRAM|comfy-aimdo|Set vram state|Device: |pytorch version|ComfyUI version|headroom guard"
    for line in api.log().splitlines():
        if re.search(said, line):
            step.info(f"ComfyUI: {line.strip()[:200]}")
    return api


def model_prompt(ctx: Ctx, which: str) -> dict[str, Any]:
    """Load model ``which`` (A or B) through ComfyUI's own nodes and use it."""
    if not ctx.sd15:
        return {
            "1": {"class_type": "VAELoader", "inputs": {"vae_name": ctx.models[which]}},
            "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
            "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["1", 0]}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        }
    seed = 1 if which == "A" else 2
    side = 64 if ctx.stand_in else 512  # the stand-in's ComfyUI samples on the CPU
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ctx.models[which]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cube on a table", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": side, "height": side, "batch_size": 1}},
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "seed": seed,
                "steps": 2,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
                "denoise": 1.0,
            },
        },
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
    }


def measure(pid: int) -> dict[str, Any]:
    """ComfyUI's VRAM (NVML: its process, the device) and RAM (its RSS, the system's used)."""
    memwarden: Any = importlib.import_module("memwarden")
    d = memwarden.snapshot(top=0).to_dict()
    mine = [p["used_bytes"] for p in d["gpu"]["processes"] if p["pid"] == pid]
    devices = d["gpu"]["devices"]
    return {
        "vram_process": sum(x or 0 for x in mine) if mine else None,
        "vram_device": sum(x["used_bytes"] for x in devices) if devices else None,
        "rss": rss(pid),
        "ram_used": d["effective"]["used_bytes"],
    }


def settle(pid: int, limit_s: float = 12.0) -> dict[str, Any]:
    """Measure until three samples in a row agree within 32 MiB (or ``limit_s`` passes)."""
    t0 = time.monotonic()
    samples = [measure(pid)]
    while time.monotonic() - t0 < limit_s:
        time.sleep(0.4)
        samples.append(measure(pid))
        last = samples[-3:]
        if len(last) == 3 and all(_close(last[0], x) for x in last[1:]):
            break
    out = dict(samples[-1])
    out["settled_after_s"] = round(time.monotonic() - t0, 1)
    return out


def _close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for k in ("vram_process", "vram_device", "rss"):
        if a.get(k) is not None and b.get(k) is not None and abs(a[k] - b[k]) > 32 * MIB:
            return False
    return True


def above(idle: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in ("vram_process", "vram_device", "rss", "ram_used"):
        a, b = idle.get(k), now.get(k)
        out[k] = None if a is None or b is None else b - a
    return out


# --- the steps ----------------------------------------------------------------------------


def step_machine(ctx: Ctx, step: Step) -> None:
    """What runs, and memwarden answers."""
    memwarden: Any = importlib.import_module("memwarden")
    m = ctx.report.machine
    m["memwarden"] = memwarden.__version__
    m["memwarden_from"] = str(Path(memwarden.__file__).parent)
    m["python"] = sys.version.split()[0]
    m["kernel"] = os.uname().release
    m["cpus"] = os.cpu_count()
    m["nested_pid_namespace"] = nested_pid_namespace()
    m["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    cuda, said = has_cuda(ctx)
    m["torch"] = said
    d = check_json(ctx)
    gpu = d["gpu"]
    m["ram_total_bytes"] = d["system"]["total_bytes"]
    m["container"] = d["container"]
    step.figures["check"] = gpu
    step.check(gpu["available"], f"memwarden check --json sees a GPU ({gpu['unavailable_reason'] or 'available'})")
    if gpu["devices"]:
        gpus = ", ".join(f"{x['name']} ({x['total_bytes'] / GIB:.1f} GiB)" for x in gpu["devices"])
        m["gpu"] = f"the NVML stand-in's {gpus}" if ctx.stand_in else gpus
        m["driver"] = gpu["driver_version"]
    text = sh([*ctx.memwarden(), "check", "--top", "3"], env=ctx.env)
    step.check(text.returncode == 0 and "GPUS" in text.stdout, "memwarden check (text) has its GPUS section")
    (ctx.out / "memwarden-check.txt").write_text(text.stdout + text.stderr)
    if ctx.stand_in:
        step.check(m.get("driver") == STUB_DRIVER, f"driver version from the stand-in ({m.get('driver')})")
        step.skip_part("nvidia-smi and torch.cuda", f"stand-in (no NVIDIA driver or CUDA device here; torch: {said})")
        return
    step.check(cuda, f"torch sees CUDA ({said})")
    smi = sh(["nvidia-smi", "-L"])
    step.check(smi.returncode == 0, f"nvidia-smi -L: {smi.stdout.strip()[:300]}")


def step_figures(ctx: Ctx, step: Step) -> None:
    """memwarden's per-GPU total/used/free against nvidia-smi and torch."""
    if ctx.stand_in:
        d = check_json(ctx)["gpu"]["devices"]
        step.figures["memwarden"] = d
        step.require(len(d) == 1, f"one GPU from the stand-in ({len(d)})")
        ref = {"total_bytes": STUB_TOTAL, "used_bytes": STUB_USED, "free_bytes": STUB_TOTAL - STUB_USED}
        compare(step, "the stand-in's figures", d[0], ref)
        step.check(d[0]["name"] == STUB_NAME and d[0]["uuid"] == STUB_UUID0, "name and UUID from the stand-in")
        step.skip_part("nvidia-smi and torch.cuda.mem_get_info", "stand-in (no NVIDIA driver or CUDA device here)")
        return
    worker = Worker(ctx, "figures")
    step.defer(worker.close)
    torch_before = worker.read()
    step.require(bool(torch_before.get("cuda")), "the torch child sees CUDA")
    d = check_json(ctx)["gpu"]["devices"]
    smi = smi_gpus()
    torch_after = worker.ask("again")
    step.figures.update(memwarden=d, nvidia_smi=smi, torch_before=torch_before, torch_after=torch_after)
    step.require(len(d) == len(smi) and len(d) > 0, f"memwarden and nvidia-smi list {len(d)} and {len(smi)} GPU(s)")
    by_uuid = {x["uuid"]: x for x in torch_after["devices"]}
    for mine, ref in zip(d, smi):
        step.check(
            mine["uuid"] == ref["uuid"] and mine["name"] == ref["name"], f"GPU {mine['index']}: same UUID and name"
        )
        compare(step, f"GPU {mine['index']}: nvidia-smi", mine, ref)
        t = by_uuid.get(mine["uuid"])
        if step.check(t is not None, f"GPU {mine['index']}: torch sees it ({mine['uuid']})") and t is not None:
            compare(step, f"GPU {mine['index']}: torch.cuda.mem_get_info", mine, t)
    step.check(
        ctx.report.machine.get("driver") == smi[0]["driver"], f"driver version as nvidia-smi ({smi[0]['driver']})"
    )


def compare(step: Step, source: str, mine: dict[str, Any], ref: dict[str, Any]) -> None:
    total = max(mine["total_bytes"], ref["total_bytes"])
    for k in ("total_bytes", "used_bytes", "free_bytes"):
        diff = mine[k] - ref[k]
        step.figures.setdefault("differences_mib", {})[f"{source}: {k}"] = round(diff / MIB, 1)
        step.check(
            agree(mine[k], ref[k], total),
            f"{source}: {k[:-6]} {mine[k] / MIB:.0f} vs {ref[k] / MIB:.0f} MiB (within 1 % of {total / GIB:.1f} GiB)",
        )


def step_holder(ctx: Ctx, step: Step) -> None:
    """A child holding 4 GiB of VRAM, as memwarden and nvidia-smi list it."""
    env = dict(ctx.env)
    if ctx.stand_in:
        holder = subprocess.Popen([ctx.python, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        step.defer(lambda: close_child(holder))
        pid = holder.pid
        env["MEMWARDEN_STUB_PROCS"] = f"0:{pid}:{HOLD_MIB * MIB}:compute"
        step.skip_part("allocating the 4 GiB with CUDA", "stand-in: the stand-in library reports the child's 4 GiB")
    else:
        worker = Worker(ctx, "hold", str(HOLD_MIB))
        step.defer(worker.close)
        ready = worker.read()
        step.require(bool(ready.get("cuda")), f"the child allocated {HOLD_MIB} MiB on cuda:0")
        pid = worker.pid
    d = check_json(ctx, env)
    (ctx.out / "memwarden-check.json").write_text(json.dumps(d, indent=1) + "\n")
    gpu = d["gpu"]
    found = [p for p in gpu["processes"] if p["pid"] == pid]
    step.figures.update(child_pid=pid, processes=gpu["processes"], pid_namespace_note=gpu["pid_namespace_note"])
    step.require(len(found) == 1, f"the child (PID {pid}) is listed once among {len(gpu['processes'])} GPU process(es)")
    p = found[0]
    used = p["used_bytes"] or 0
    step.check(
        p["gpu_index"] == 0 and p["kind"] == "compute", f"on GPU 0 as a compute process ({p['gpu_index']}, {p['kind']})"
    )
    step.check(HOLD_MIB * MIB <= used <= (HOLD_MIB + 1024) * MIB, f"with its memory: {used / MIB:.0f} MiB")
    step.check(p["visible"] and p["name"] == comm(pid), f"PID as this namespace sees it: /proc names it {p['name']!r}")
    step.check(gpu["pid_namespace_note"] is None, f"no PID-namespace note ({gpu['pid_namespace_note']})")
    text = sh([*ctx.memwarden(), "check", "--top", "0"], env=env).stdout
    row = [line for line in text.splitlines() if f"PID {pid} " in line]
    step.check(len(row) == 1 and "GiB" in row[0], f"memwarden check (text) lists it: {row[:1]}")
    if ctx.stand_in:
        step.skip_part("nvidia-smi --query-compute-apps", "stand-in (no NVIDIA driver here)")
        return
    apps = smi_apps()
    step.figures["nvidia_smi_apps"] = apps
    theirs = [a for a in apps if a["pid"] == pid]
    step.require(len(theirs) == 1, f"nvidia-smi lists the child as PID {pid} too")
    smi_used = theirs[0]["used_bytes"] or 0
    step.check(abs(smi_used - used) <= 2 * MIB, f"same memory as nvidia-smi ({smi_used / MIB:.0f} MiB)")


def close_child(proc: subprocess.Popen[Any]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def step_cuda_map(ctx: Ctx, step: Step) -> None:
    """CUDA ordinals against NVML indices, as CUDA_VISIBLE_DEVICES selects them."""
    if ctx.stand_in:
        raise Skip("stand-in: CUDA ordinals need a CUDA device, and the stand-in library has no CUDA side")
    nvml = {x["uuid"]: x["index"] for x in check_json(ctx)["gpu"]["devices"]}
    step.figures["nvml"] = nvml
    plain = Worker(ctx, "hold", "256")
    step.defer(plain.close)
    seen = plain.read()
    plain.close()
    mapping = {x["ordinal"]: nvml.get(x["uuid"]) for x in seen["devices"]}
    step.figures["ordinal_to_nvml_index"] = mapping
    step.check(
        all(v is not None for v in mapping.values()), f"every CUDA device's UUID is an NVML device's ({mapping})"
    )
    if len(nvml) == 1:
        step.check(mapping == {0: 0}, "one GPU: CUDA ordinal 0 is NVML index 0")
    else:
        step.info(f"{len(nvml)} GPUs: ordinal -> NVML index {mapping} (CUDA_DEVICE_ORDER decides the order)")
    last_uuid = max(nvml, key=lambda u: nvml[u])
    for form in (last_uuid, str(nvml[last_uuid])):
        visible_as(ctx, step, form, last_uuid, nvml[last_uuid])
    if len(nvml) < 2:
        step.skip_part("a reordered CUDA_VISIBLE_DEVICES", f"needs two GPUs or more ({len(nvml)} here)")


def visible_as(ctx: Ctx, step: Step, form: str, uuid: str, index: int) -> None:
    """A child with CUDA_VISIBLE_DEVICES=form sees one device, that GPU, and memwarden
    lists the child on its NVML index."""
    env = dict(ctx.env, CUDA_VISIBLE_DEVICES=form)
    w = Worker(ctx, "hold", "256", env=env)
    step.defer(w.close)
    seen = w.read()
    devs = seen.get("devices", [])
    step.check(
        len(devs) == 1 and devs[0]["uuid"] == uuid,
        f"CUDA_VISIBLE_DEVICES={form}: one device, ordinal 0 = {uuid} ({[x['uuid'] for x in devs]})",
    )
    procs = [p for p in check_json(ctx)["gpu"]["processes"] if p["pid"] == w.pid]
    step.check(
        [p["gpu_index"] for p in procs] == [index],
        f"CUDA_VISIBLE_DEVICES={form}: memwarden lists the child on NVML index {index} ({procs})",
    )
    w.close()


def step_torch_api(ctx: Ctx, step: Step) -> None:
    """Allocator figures, peak reset and cache release through the Python API."""
    w = Worker(ctx, "torch-api")
    step.defer(w.close)
    r = w.read()
    step.figures["worker"] = r
    if not r["cuda"]:
        if not ctx.stand_in:
            step.require(False, "the torch child sees CUDA")
        step.check(r["torch_memory"] == [], "memwarden.torch_memory() is empty without a CUDA device")
        torch_step = [s for s in r["cleanup_steps"] if s["index"] == 4]
        step.check(
            len(torch_step) == 1 and "no CUDA device" in torch_step[0]["detail"],
            f"memwarden.cleanup()'s torch step says there is no CUDA device ({torch_step[:1]})",
        )
        step.skip_part("allocator figures, peak reset, cache release", "stand-in (torch has no CUDA device here)")
        return
    torch_api_checks(step, r)


def torch_api_checks(step: Step, r: dict[str, Any]) -> None:
    size = TORCH_API_MIB * MIB
    base, alloc, freed, after = r["base"], r["allocated"], r["freed_cached"], r["after_cleanup"]
    tm = alloc["torch_memory"]
    step.check(
        (tm["allocated_bytes"], tm["reserved_bytes"]) == (alloc["direct"]["allocated"], alloc["direct"]["reserved"]),
        "memwarden.torch_memory() reports torch's own allocated and reserved figures",
    )
    step.check(
        tm["allocated_bytes"] - base["torch_memory"]["allocated_bytes"] >= size, f"allocated +{size / GIB:.0f} GiB"
    )
    nv = [x["nvml"]["process"] for x in (base, alloc, freed, after)]
    step.figures["nvml_process_mib"] = [None if x is None else round(x / MIB) for x in nv]
    step.require(None not in nv, "NVML reports this process's VRAM at each point")
    step.check(
        nv[1] - nv[0] >= 0.99 * size, f"NVML sees the allocation in this process (+{(nv[1] - nv[0]) / MIB:.0f} MiB)"
    )
    ft = freed["torch_memory"]
    step.check(ft["allocated_bytes"] <= base["torch_memory"]["allocated_bytes"] + MIB, "after del: nothing allocated")
    step.check(
        ft["reserved_bytes"] >= size and ft["peak_allocated_bytes"] >= size, "after del: reserved and peak keep it"
    )
    step.check(nv[2] - nv[0] >= 0.99 * size, f"after del: the driver still holds it (+{(nv[2] - nv[0]) / MIB:.0f} MiB)")
    torch_line = [s["detail"] for s in r["cleanup_steps"] if s["index"] == 4]
    step.check(bool(torch_line) and "empty_cache" in torch_line[0], f"cleanup's torch step: {torch_line[:1]}")
    step.check(bool(torch_line) and "peak stats reset" in torch_line[0], "cleanup reset the peak statistics")
    at = after["torch_memory"]
    step.check(at["reserved_bytes"] < 64 * MIB, f"after cleanup: reserved {at['reserved_bytes'] / MIB:.0f} MiB")
    step.check(at["peak_allocated_bytes"] <= at["allocated_bytes"] + MIB, "after cleanup: peak is back to allocated")
    step.check(
        nv[2] - nv[3] >= 0.99 * size,
        f"after cleanup: returned to the driver, as NVML measures this process (-{(nv[2] - nv[3]) / MIB:.0f} MiB)",
    )


@dataclass
class Generator:
    """A background child writing one checkpoint (or the stand-in's layout check)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: IO[str]
    log_path: Path
    started: float
    out: Path | None = None

    def wait(self, timeout: float) -> tuple[int, float, str]:
        rc = self.proc.wait(timeout=max(timeout, 0.1))
        self.log.close()
        return rc, time.monotonic() - self.started, self.log_path.read_text(errors="replace")[-1500:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if not self.log.closed:
            self.log.close()


def step_setup(ctx: Ctx, step: Step) -> None:
    """ComfyUI 0.28.0 unpacked, the pack linked into it, the models started."""
    if ctx.comfy_tarball is None or not ctx.comfy_tarball.is_file():
        raise Skip(f"no ComfyUI source tarball ({ctx.comfy_tarball}); the ComfyUI steps cannot run")
    with tarfile.open(ctx.comfy_tarball) as tar:
        # The "data" filter where this Python has it (3.12, and 3.11.4 on).
        options: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(ctx.work, **options)
    ctx.comfy_dir = ctx.work / "ComfyUI"
    step.require((ctx.comfy_dir / "main.py").is_file(), f"{ctx.comfy_tarball.name} holds ComfyUI/main.py")
    version = re.search(r'"([^"]+)"', (ctx.comfy_dir / "comfyui_version.py").read_text())
    ctx.report.machine["comfyui"] = version.group(1) if version else "?"
    step.check(ctx.report.machine["comfyui"] == "0.28.0", f"ComfyUI version {ctx.report.machine['comfyui']}")
    (ctx.comfy_dir / "custom_nodes" / LINK_NAME).symlink_to(REPO, target_is_directory=True)
    models = ctx.work / "models"
    (models / "checkpoints").mkdir(parents=True)
    (ctx.work / "extra_model_paths.yaml").write_text(
        f"memwarden_gpu_check:\n  base_path: {json.dumps(str(models))}\n"
        "  checkpoints: checkpoints\n  vae_approx: vae_approx\n"
    )
    frontend = ctx.work / "frontend"
    frontend.mkdir()
    (frontend / "index.html").write_text("<!doctype html><title>memwarden GPU check: no frontend</title>\n")
    if not ctx.sd15:
        made = sh([ctx.python, str(REPO / "tests/e2e/tiny_models.py"), str(models)], env=ctx.env, timeout=120)
        written = len(list((models / "vae_approx").glob("*.safetensors")))
        step.require(
            made.returncode == 0 and written == 4, f"two TAESD models written ({written} files) {made.stderr[-300:]}"
        )
        ctx.models = {"A": "taesd", "B": "taesdxl"}
        layout = "import sys; sys.path.insert(0, sys.argv[1]); import sd_checkpoint as s; "
        layout += "t = s.sd15_shapes(__import__('pathlib').Path(sys.argv[2])); import math; "
        layout += "print(len(t), sum(math.prod(x[0]) for x in t.values()))"
        argv = [ctx.python, "-c", layout, str(REPO / "tests/e2e"), str(ctx.comfy_dir)]
        ctx.generators.append(start_generator(ctx, "sd15-layout", argv))
        step.skip_part("SD1.5 checkpoints", "stand-in: 2.1 GB each, written only on the GPU machine; layout checked")
        return
    ctx.models = {"A": "memwarden-sd15-A.safetensors", "B": "memwarden-sd15-B.safetensors"}
    for which, seed in (("A", 1), ("B", 2)):
        out = models / "checkpoints" / ctx.models[which]
        argv = [ctx.python, str(REPO / "tests/e2e/sd_checkpoint.py"), str(ctx.comfy_dir), str(out)]
        argv += ["--dtype", "fp16", "--seed", str(seed)]
        ctx.generators.append(start_generator(ctx, f"sd15-{which}", argv, out))
    step.check(len(ctx.generators) == 2, "two checkpoint writers started in the background")


def start_generator(ctx: Ctx, name: str, argv: list[str], out: Path | None = None) -> Generator:
    log_path = ctx.work / f"{name}.log"
    log = open(log_path, "w")
    # No CUDA for the writers: they must not hold VRAM while the steps measure it.
    env = dict(ctx.env, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ctx.work)
    return Generator(name, proc, log, log_path, time.monotonic(), out)


def step_checkpoints(ctx: Ctx, step: Step) -> None:
    """The background writers finished, and what they wrote."""
    if not ctx.generators:
        raise Skip("ComfyUI was not set up (see the setup step)")
    for g in ctx.generators:
        step.defer(g.stop)
        rc, took, said = g.wait(ctx.deadline - time.monotonic() - RESERVE_S)
        step.figures[g.name] = {"exit": rc, "seconds": round(took, 1), "output": said.strip()[-400:]}
        step.require(rc == 0, f"{g.name}: finished (exit {rc}) in {took:.0f} s: {said.strip()[-300:]}")
        if g.out is not None:
            size = g.out.stat().st_size
            step.check(2.0e9 < size < 2.3e9, f"{g.name}: {size / 1e9:.2f} GB")
        else:
            found = re.findall(r"^(\d+) (\d+)$", said, re.M)
            n, params = (int(x) for x in found[-1]) if found else (0, 0)
            step.check(
                n > 1000 and 1.0e9 < params < 1.1e9,
                f"SD1.5 layout from ComfyUI's model classes: {n} tensors, {params / 1e6:.0f} M parameters",
            )


def arm_step(arm: str) -> Callable[[Ctx, Step], None]:
    def run(ctx: Ctx, step: Step) -> None:
        if ctx.comfy_dir is None or not ctx.models:
            raise Skip("ComfyUI or its models are not ready (see the setup and checkpoints steps)")
        if any(g.proc.returncode != 0 for g in ctx.generators):
            raise Skip("the models were not written (see the checkpoints step)")
        stub_anchor_env(ctx)
        comfy_arm(ctx, step, arm)

    return run


def stub_anchor_env(ctx: Ctx) -> None:
    """In stand-in mode ComfyUI's NVML is the stand-in, describing the anchor child as
    the process holding 1 GiB (a real PID, so it is joined with /proc)."""
    if ctx.stand_in and ctx.anchor is not None:
        ctx.env["MEMWARDEN_STUB_PROCS"] = f"0:{ctx.anchor.pid}:{GIB}:compute"


def comfy_arm(ctx: Ctx, step: Step, arm: str) -> None:
    api = start_comfy(ctx, step, arm)
    pid = api.proc.pid
    points: dict[str, dict[str, Any]] = {}
    raw: dict[str, dict[str, Any]] = {"idle": settle(pid)}
    step.figures["raw"] = raw
    step.figures["above_idle"] = points
    ctx.report.arms[arm] = points
    for which in ("A", "B"):
        t0 = time.monotonic()
        api.run(model_prompt(ctx, which))
        step.figures[f"prompt_{which}_s"] = round(time.monotonic() - t0, 1)
        raw[which] = settle(pid)
        points[which] = above(raw["idle"], raw[which])
        if arm == "none" and which == "B":
            panel_checks(ctx, step, api)
        clean(ctx, step, api, arm, which)
        raw[f"{which}_cleaned"] = settle(pid)
        points[f"{which}_cleaned"] = above(raw["idle"], raw[f"{which}_cleaned"])
        ctx.report.write()
    step.figures["loads_logged"] = re.findall(r"(?:Requested to load|loaded (?:completely|partially)).*", api.log())[
        :12
    ]
    arm_checks(ctx, step, arm, points)


def clean(ctx: Ctx, step: Step, api: Comfy, arm: str, which: str) -> None:
    """This arm's way of freeing memory, after model ``which``."""
    inputs: dict[str, Any]
    if arm == "cleaner":
        trims = api.log().count(DEFERRED)
        inputs = {
            "aggressive_trim": True,
            "enable_privileges": True,
            "external_helper": False,
            "skip_trim_if_c_low": True,
            "min_c_free_gb": 1.0,
            "purge_standby": False,
        }
        entry = api.run({"1": {"class_type": "MemoryCleanerForce", "inputs": inputs}})
        report = str(entry["outputs"]["1"]["text"][0])
        step.figures[f"cleaner_report_{which}"] = report
        unloaded = re.search(r"\[0/7\] Unload models: unloaded (\d+) model", report)
        step.check(
            unloaded is not None and int(unloaded.group(1)) >= 1,
            f"after {which}: the cleaner unloaded {unloaded.group(1) if unloaded else '?'} model(s) through ComfyUI",
        )
        step.check(
            api.wait_in_log(DEFERRED, trims + 1) == trims + 1, f"after {which}: deferred trim after ComfyUI's reset"
        )
    elif arm == "optimizer":
        inputs = {"mode": "Aggressive", "gpu_index": -1, "reset_peak_stats": True}
        entry = api.run({"1": {"class_type": "VRAMOptimizer", "inputs": inputs}})
        report = str(entry["outputs"]["1"]["text"][0])
        step.figures[f"optimizer_report_{which}"] = report
        unloaded = re.search(r"models: unloaded (\d+) model", report)
        step.check(
            unloaded is not None and int(unloaded.group(1)) >= 1,
            f"after {which}: the optimizer unloaded {unloaded.group(1) if unloaded else '?'} model(s) through ComfyUI",
        )
    elif arm == "free":
        code, body = api.post("/free", {"unload_models": True, "free_memory": True})
        step.check(code == 200, f"after {which}: POST /free answered {code} {str(body)[:100]}")
        # ComfyUI acts on it in its prompt worker, and says nothing when done: give it
        # time to unload, reset its cache and collect before the figures are read.
        time.sleep(5)


def arm_checks(ctx: Ctx, step: Step, arm: str, points: dict[str, dict[str, Any]]) -> None:
    """What the arm's figures must show."""
    for p in POINTS[1:]:
        step.check(points.get(p, {}).get("rss") is not None, f"{p}: ComfyUI's RSS measured")
    if ctx.stand_in:
        step.skip_part("VRAM above idle", "stand-in (ComfyUI runs on the CPU; the stand-in's VRAM does not move)")
        return
    a, b = points["A"]["vram_process"], points["B"]["vram_process"]
    step.require(a is not None and b is not None, "NVML reports ComfyUI's VRAM")
    step.check(a >= GIB, f"model A is on the GPU after its prompt (+{a / GIB:.2f} GiB)")
    if arm in ("cleaner", "optimizer"):
        for which in ("A", "B"):
            loaded, cleaned = points[which]["vram_process"], points[f"{which}_cleaned"]["vram_process"]
            step.check(
                cleaned <= max(256 * MIB, 0.1 * loaded),
                f"after {which}: the {arm} gave ComfyUI's VRAM back ({loaded / GIB:+.2f} -> {cleaned / GIB:+.2f} GiB)",
            )
            if arm == "cleaner":  # the optimizer keeps ComfyUI's cached outputs, and with them the weights in RAM
                ram_loaded, ram_cleaned = points[which]["rss"], points[f"{which}_cleaned"]["rss"]
                step.check(
                    ram_cleaned <= ram_loaded + 512 * MIB,
                    f"after {which}: the weights did not stay in RAM "
                    f"({ram_loaded / GIB:+.2f} -> {ram_cleaned / GIB:+.2f} GiB RSS)",
                )
        step.check(b <= 1.25 * a + 256 * MIB, f"B loaded after A was cleaned: +{b / GIB:.2f} GiB (A: +{a / GIB:.2f})")


def panel_checks(ctx: Ctx, step: Step, api: Comfy) -> None:
    """The panel's snapshot route, its live feed and /memwarden/metrics, against the device."""
    holder = ctx.anchor.pid if ctx.stand_in and ctx.anchor is not None else api.proc.pid
    body = api.get("/memwarden/snapshot")
    fig = body["figures"]["gpu"]
    step.figures["panel_snapshot_gpu"] = fig
    step.require(fig["available"] and len(fig["devices"]) >= 1, "snapshot route: the GPU is there")
    dev = fig["devices"][0]
    ref_total = STUB_TOTAL if ctx.stand_in else smi_gpus()[0]["total_bytes"]
    step.check(
        agree(dev["total_bytes"], ref_total, ref_total), f"snapshot route: total {dev['total_bytes'] / GIB:.2f} GiB"
    )
    procs = [p for p in dev["processes"] if p["pid"] == holder]
    step.check(
        len(procs) == 1 and (procs[0]["used_bytes"] or 0) >= GIB,
        f"snapshot route: PID {holder} listed holding VRAM ({procs})",
    )
    step.check(body["status"]["vram_percent"] is not None, f"status line with VRAM: {body['status']['status']}")
    feed_checks(step, api, holder)
    metrics_checks(ctx, step, api, holder, dev)


def feed_checks(step: Step, api: Comfy, holder: int) -> None:
    try:
        aiohttp: Any = importlib.import_module("aiohttp")
    except ImportError as e:
        step.check(False, f"the feed needs aiohttp to be read here ({e})")
        return
    msg = asyncio.run(read_feed(aiohttp, api))
    step.figures["feed_message_gpu"] = msg.get("figures", {}).get("gpu")
    devices = msg.get("figures", {}).get("gpu", {}).get("devices", [])
    step.check(len(devices) >= 1, f"live feed (memwarden.status): {len(devices)} GPU(s)")
    pids = [p["pid"] for d in devices for p in d["processes"]]
    step.check(holder in pids, f"live feed: PID {holder} among the GPU processes {pids}")


async def read_feed(aiohttp: Any, api: Comfy) -> dict[str, Any]:
    """Subscribe a websocket client to the panel's feed; return its first message."""
    sid = f"memwarden-gpu-check-{os.getpid()}"
    config = "/memwarden/feed/config"
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{api.base}/ws?clientId={sid}") as ws:
        code, said = await asyncio.to_thread(api.post, config, {"client_id": sid, "interval_s": 0.25})
        if code != 200:
            raise StepFailed(f"feed/config answered {code}: {said}")
        try:
            return await asyncio.wait_for(first_status(aiohttp, ws), 20)
        finally:
            await asyncio.to_thread(api.post, config, {"client_id": sid, "enabled": False})


async def first_status(aiohttp: Any, ws: Any) -> dict[str, Any]:
    async for m in ws:
        if m.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(m.data)
            if data.get("type") == "memwarden.status":
                return dict(data["data"])
    raise StepFailed("the websocket closed before a memwarden.status message came")


def metrics_checks(ctx: Ctx, step: Step, api: Comfy, holder: int, dev: dict[str, Any]) -> None:
    ctype, text = api.raw("/memwarden/metrics")
    (ctx.out / "metrics.txt").write_text(text)
    step.check(ctype.startswith("text/plain"), f"/memwarden/metrics: {ctype}")
    families: dict[str, float | None] = {
        "memwarden_gpu_memory_total_bytes": None,
        "memwarden_gpu_memory_used_bytes": None,
        "memwarden_gpu_memory_free_bytes": None,
        "memwarden_gpu_utilization_ratio": None,
    }
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in families and 'gpu="0"' in line:
            families[name] = float(line.rsplit(" ", 1)[1])
    step.figures["metrics_gpu0"] = families
    step.check(None not in families.values(), f"/metrics: GPU families for GPU 0 ({families})")
    total = families["memwarden_gpu_memory_total_bytes"]
    step.check(
        total is not None and agree(total, dev["total_bytes"], dev["total_bytes"]), "/metrics: total as the snapshot"
    )
    rows = [
        x
        for x in text.splitlines()
        if x.startswith("memwarden_gpu_process_memory_used_bytes{") and f'pid="{holder}"' in x
    ]
    step.check(
        len(rows) == 1 and float(rows[0].rsplit(" ", 1)[1]) >= GIB, f"/metrics: PID {holder}'s VRAM ({rows[:1]})"
    )


# --- the run ------------------------------------------------------------------------------


#: name, title, time limit, least time worth starting it with, function.
STEPS: list[tuple[str, str, float, float, Callable[[Ctx, Step], None]]] = [
    ("machine", "what runs, and memwarden check --json answers", 45, 15, step_machine),
    ("setup", "ComfyUI 0.28.0 unpacked, the pack linked, the models started", 60, 15, step_setup),
    ("figures", "memwarden per-GPU total/used/free vs nvidia-smi and torch.cuda.mem_get_info", 60, 20, step_figures),
    ("holder", f"a child holding {HOLD_MIB // 1024} GiB of VRAM, listed with its memory and PID", 60, 20, step_holder),
    ("cuda-map", "CUDA ordinal <-> NVML index and UUID, under CUDA_VISIBLE_DEVICES", 75, 30, step_cuda_map),
    ("torch-api", "allocator stats, peak reset and cache release through the Python API", 75, 30, step_torch_api),
    ("checkpoints", "the two SD1.5 checkpoints with random weights", 240, 15, step_checkpoints),
    *[(f"comfyui-{a}", f"A then B, {t}", 120, 60, arm_step(a)) for a, t in ARMS.items()],
]


def stand_in_env(ctx: Ctx, lib: str) -> None:
    """This process's and its children's NVML is the stand-in, describing one H100."""
    ctx.stub_lib = lib
    ctx.anchor = subprocess.Popen([ctx.python, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    stub = {
        "MEMWARDEN_NVML_LIB": lib,
        "MEMWARDEN_STUB_GPUS": f"{STUB_NAME}:{STUB_TOTAL}:{STUB_USED}:37:12",
        "MEMWARDEN_STUB_DRIVER": STUB_DRIVER,
        "MEMWARDEN_STUB_PROCS": f"0:{ctx.anchor.pid}:{GIB}:compute",
    }
    ctx.env.update(stub)
    os.environ.update(stub)


@contextmanager
def handlers() -> Iterator[None]:
    old_alarm = signal.signal(signal.SIGALRM, _on_alarm)
    old_term = signal.signal(signal.SIGTERM, _on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)


def run(a: argparse.Namespace) -> int:
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "comfyui.log").write_text("")
    deadline = time.monotonic() + (a.deadline_epoch - time.time() if a.deadline_epoch else a.budget_s)
    work = Path(a.work).resolve() if a.work else Path(f"/tmp/memwarden-gpu-check-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    report = Report(out, "stand-in" if a.stand_in else "gpu")
    ctx = Ctx(a.stand_in, sys.executable, out, work, deadline, dict(os.environ), report)
    ctx.comfy_tarball = Path(a.comfy_tarball).resolve() if a.comfy_tarball else None
    ctx.sd15 = not a.stand_in or a.sd15
    print(f"gpu-check ({report.mode}): {ctx.left():.0f} s to the deadline; report in {out}", flush=True)
    try:
        with handlers():
            if a.stand_in:
                stand_in_env(ctx, a.nvml_stub)
            # SD1.5 sampled on the CPU is slow: longer limits for its models and arms.
            slow = 3.0 if a.stand_in and a.sd15 else 1.0
            for name, title, limit, least, fn in STEPS:
                run_step(ctx, Step(name, title), limit * (slow if limit >= 120 else 1.0), least, fn)
    finally:
        for g in ctx.generators:
            g.stop()
        if ctx.anchor is not None:
            close_child(ctx.anchor)
        report.write()
        if not a.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    print(report.summary(), flush=True)
    for s in report.steps:
        if s.status == "skipped":
            print(f"SKIPPED: gpu-check {report.mode} {s.name}: {s.reason}")
        else:
            for p in s.skipped:
                print(f"SKIPPED: gpu-check {report.mode} {s.name}: {p}")
    failed = [s.name for s in report.steps if s.status == "failed"]
    print(f"gpu-check: {len(report.steps) - len(failed)} steps without failure, {len(failed)} failed {failed or ''}")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "worker":
        return worker_main(argv[1], argv[2:])
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True, help="folder for gpu-check.json/.txt and the logs")
    r.add_argument("--comfy-tarball", help="ComfyUI 0.28.0 source (ComfyUI-6665515.tar.gz)")
    r.add_argument("--deadline-epoch", type=float, help="Unix time by which the run ends")
    r.add_argument("--budget-s", type=float, default=450.0, help="seconds for the run when no deadline is given")
    r.add_argument("--work", help="scratch folder (default /tmp/memwarden-gpu-check-PID; removed after)")
    r.add_argument("--keep-work", action="store_true", help="keep the scratch folder")
    r.add_argument("--stand-in", action="store_true", help="no GPU: NVML is the stand-in library")
    r.add_argument("--nvml-stub", help="the stand-in library (with --stand-in)")
    r.add_argument("--sd15", action="store_true", help="with --stand-in: SD1.5 checkpoints as on the GPU (slow)")
    a = ap.parse_args(argv)
    if a.stand_in and not a.nvml_stub:
        ap.error("--stand-in needs --nvml-stub LIB")
    return run(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
