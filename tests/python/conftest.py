"""Shared helpers for the Python tests (real package, real processes, real torch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Child:
    """A Python child that holds ``mib`` MiB of written anonymous memory."""

    def __init__(self, mib: int, argv0: str | None = None) -> None:
        code = (
            "import mmap,sys\n"
            f"m = mmap.mmap(-1, {mib} << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)\n"
            f"for i in range(0, {mib} << 20, 4096): m[i] = 1\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
        )
        exe = [sys.executable, "-c", code]
        self.proc = subprocess.Popen(exe, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.pid = self.proc.pid

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def child():
    children: list[Child] = []

    def make(mib: int) -> Child:
        c = Child(mib)
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
