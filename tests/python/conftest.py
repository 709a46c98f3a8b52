"""Shared helpers for the Python tests (real package, real processes, real torch)."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def until(cond: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Wait for ``cond`` (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def proc_memory(pid: int) -> dict[str, int]:
    """RSS, anonymous RSS and swap of ``pid`` in bytes, as /proc/PID/status shows them."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "VmSwap"):
                out[key] = int(value.split()[0]) * 1024
    return out


class Child:
    """A Python child that holds ``mib`` MiB of written anonymous memory (every byte
    of each page set to 1). It answers ``check`` on stdin with ``ok`` when every page
    still holds what it wrote (touching them all: paged-out memory comes back), and
    exits at end of input. ``cgroup``: a cgroup directory it joins before it
    allocates, so the allocation is charged there."""

    def __init__(self, mib: int, cgroup: Path | None = None) -> None:
        code = (
            "import mmap,sys\n"
            f"size = {mib} << 20\n"
            "chunk = b'\\x01' * (1 << 20)\n"
            "m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)\n"
            "for off in range(0, size, len(chunk)):\n"
            "    m[off : off + len(chunk)] = chunk\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    line = sys.stdin.readline()\n"
            "    if not line:\n"
            "        break\n"
            "    whole = all(m[off : off + len(chunk)] == chunk for off in range(0, size, len(chunk)))\n"
            "    print('ok' if whole else 'corrupted', flush=True)\n"
        )
        exe = [sys.executable, "-c", code]
        if cgroup is not None:
            exe = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$0" "$@"', *exe]
        self.proc = subprocess.Popen(exe, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.pid = self.proc.pid

    def memory(self) -> dict[str, int]:
        return proc_memory(self.pid)

    def check(self) -> str:
        """Touch every page and say whether it still holds what was written."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("check\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def child():
    children: list[Child] = []

    def make(mib: int, cgroup: Path | None = None) -> Child:
        c = Child(mib, cgroup)
        children.append(c)
        return c

    yield make
    for c in children:
        c.close()


def has_swap() -> bool:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("SwapTotal:"):
                return int(line.split()[1]) > 0
    return False


is_root = os.geteuid() == 0


def swap_refusal_names(message: str) -> str:
    """Which setting a swap-check refusal must name on this machine: "force" (the
    override) when there is no swap or this cgroup may not use it, else "margin"
    (free swap is below what would be paged out plus the margin). Tests using it
    hold ``swap_lock``, so swap cannot come or go between the refusal and this."""
    if not has_swap():
        assert "no swap is configured" in message, message
        return "force"
    if "may not use swap" in message:
        return "force"
    assert "free swap" in message and "is below" in message, message
    return "margin"


def assert_pageout_skipped(report: str, force: str, margin: str, foreign: tuple[str, ...]) -> None:
    """``report`` says the swap check skipped the pageout, nothing was paged out,
    and the refusal names the caller's own settings: the override ``force`` or the
    margin ``margin``, and none of the ``foreign`` names (another front end's)."""
    assert "Skipping pageout" in report, report
    assert not re.search(r"paged out [\d.]+ GB|moved to swap", report), report  # nothing was paged out
    if swap_refusal_names(report) == "force":
        assert force in report, report
    else:
        assert f"margin ({margin})" in report, report
    for other in foreign:
        assert other not in report, (other, report)


# -- swap ------------------------------------------------------------------------

#: The lock every test and benchmark takes that adds swap or needs there to be none
#: (the Rust tests' swap_lock() and bench/pageout.sh take the same one).
SWAP_LOCK = "/tmp/memwarden-swap.lock"


@pytest.fixture
def swap_lock():
    """Hold the swap lock for the test: nobody adds or removes swap meanwhile."""
    with open(SWAP_LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture
def swap(swap_lock):
    """``swap(mib)``: a swap file of ``mib`` MiB for this test (swapoff and removed
    after it), or skip the test saying why swap cannot be enabled here."""
    files: list[Path] = []

    def run(*cmd: str) -> None:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise OSError(f"{' '.join(cmd)}: {out.stderr.strip() or out.returncode}")

    def make(mib: int) -> Path:
        if not is_root:
            pytest.skip("cannot enable a swap file here: swapon needs root")
        path = Path(f"/var/tmp/memwarden-pytest-{os.getpid()}-{len(files)}.swap")
        path.unlink(missing_ok=True)
        files.append(path)
        try:
            run("dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "status=none")
            path.chmod(0o600)
            run("mkswap", str(path))
            run("swapon", str(path))
        except OSError as e:
            pytest.skip(f"cannot enable a swap file here: {e}")
        return path

    yield make
    for path in files:
        subprocess.run(["swapoff", str(path)], capture_output=True, check=False)
        path.unlink(missing_ok=True)


# -- a memory cgroup -------------------------------------------------------------


class MemoryGroup:
    """A memory cgroup (v1, or v2 where this process may create one with the memory
    controller) below this process's own, removed afterwards."""

    def __init__(self, path: Path, version: int) -> None:
        self.path, self.version = path, version

    @classmethod
    def create(cls, name: str) -> MemoryGroup:
        if not is_root:
            raise OSError("creating cgroups needs root")
        with open("/proc/self/cgroup") as f:
            entries = [line.rstrip("\n").split(":", 2) for line in f]
        v1 = next((e[2] for e in entries if "memory" in e[1].split(",")), None)
        if v1 is not None and Path("/sys/fs/cgroup/memory").is_dir():
            path, version = Path("/sys/fs/cgroup/memory" + v1.rstrip("/")) / name, 1
        else:
            v2 = next((e[2] for e in entries if e[0] == "0"), None)
            if v2 is None or not Path("/sys/fs/cgroup/cgroup.controllers").exists():
                raise OSError("no cgroup v1 memory hierarchy and no cgroup v2 at /sys/fs/cgroup")
            path, version = Path("/sys/fs/cgroup" + v2.rstrip("/")) / name, 2
        path.mkdir()
        group = cls(path, version)
        if version == 2 and not (path / "memory.reclaim").exists():
            group.remove()
            raise OSError(f"{path.parent} does not delegate the memory controller with memory.reclaim to children")
        return group

    def usage(self) -> int:
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        return int((self.path / name).read_text())

    def squeeze(self, nbytes: int) -> None:
        """Make the kernel reclaim about ``nbytes`` from this group, as memory
        pressure would: v1 lowers the limit below the usage, v2 writes memory.reclaim."""
        if self.version == 1:
            (self.path / "memory.limit_in_bytes").write_text(str(self.usage() - nbytes))
        else:
            (self.path / "memory.reclaim").write_text(str(nbytes))

    def remove(self) -> None:
        for _ in range(50):  # exiting children may still be charged for a moment
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)
        warnings.warn(f"could not remove {self.path}", stacklevel=1)


@pytest.fixture
def memory_group():
    """A memory cgroup for this test's children, or skip saying why there is none."""
    try:
        group = MemoryGroup.create(f"memwarden-pytest-{os.getpid()}")
    except OSError as e:
        pytest.skip(f"no memory cgroup for the test: {e}")
    yield group
    group.remove()


# -- ComfyUI stand-ins -------------------------------------------------------------


def fake_model_management(calls: list) -> types.ModuleType:
    """ComfyUI's ``comfy.model_management`` as the cleanup uses it, with two models
    loaded, recording each call (the real one: the end-to-end test)."""
    mm = types.ModuleType("comfy.model_management")
    mm.current_loaded_models = [object(), object()]
    mm.unload_all_models = lambda: calls.append("unload_all_models")
    mm.cleanup_models_gc = lambda: calls.append("cleanup_models_gc")
    mm.cleanup_models = lambda: calls.append("cleanup_models")
    mm.soft_empty_cache = lambda force=False: calls.append("soft_empty_cache")
    return mm
