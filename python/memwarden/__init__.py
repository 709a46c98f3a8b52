"""memwarden: see and reclaim RAM, VRAM and swap for AI generation workloads.

A thin, typed layer over the Rust core (``memwarden._native``)::

    import memwarden
    snap = memwarden.snapshot()              # system, container, PSI, processes, GPUs
    print(memwarden.status_line())           # RAM: 8.5GB/16GB (53%) | VRAM: n/a
    report = memwarden.cleanup("balanced")   # the 7-step cleanup, with a report
    print(report.text)
"""

from __future__ import annotations

import os

from . import _native
from ._native import (
    SCHEMA_VERSION,
    Ambiguous,
    GuardRefused,
    InvalidInput,
    MemwardenError,
    NoSuchProcess,
    PermissionDenied,
    Protected,
    Unsupported,
)
from ._records import Record, loads
from .cleanup import CleanupReport, cleanup, normalize_mode
from .pressure import PressureReport, check_memory_pressure
from .torch_memory import torch_memory

__version__ = _native.__version__

__all__ = [
    "SCHEMA_VERSION",
    "Ambiguous",
    "CleanupReport",
    "GuardRefused",
    "InvalidInput",
    "MemwardenError",
    "NoSuchProcess",
    "PermissionDenied",
    "PressureReport",
    "Protected",
    "Record",
    "Snapshot",
    "Unsupported",
    "check_memory_pressure",
    "cleanup",
    "format_bytes",
    "normalize_mode",
    "parse_size",
    "process_memory",
    "purge_cache",
    "reclaim",
    "snapshot",
    "status",
    "status_line",
    "torch_memory",
    "trim_heap",
    "trim_process",
]


class Snapshot(Record):
    """One snapshot of the machine (schema ``snapshot``, docs/json-schema.md)."""

    _json: str

    @classmethod
    def _from_json(cls, text: str) -> Snapshot:
        snap = cls(loads(text))
        object.__setattr__(snap, "_json", text)
        return snap

    @property
    def json(self) -> str:
        """The snapshot as the core produced it (compact JSON)."""
        return self._json

    @property
    def status_line(self) -> str:
        """``RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)``."""
        return _native.render_status_line(self._json)

    def report(self, color: bool = False) -> str:
        """The full ``memwarden check`` text report."""
        return _native.render_check(self._json, color)

    def status(self) -> Record:
        """The status line and the numbers behind it (schema ``status``)."""
        return loads(_native.status_of(self._json))


def snapshot(
    pid: int | None = None,
    *,
    detailed: bool = False,
    top: int = 10,
    scope: str = "visible",
    gpu: bool = True,
) -> Snapshot:
    """Take a snapshot: the process ``pid`` (default: this one), system, container
    limit, pressure, the ``top`` processes by RSS and the GPUs.

    ``detailed`` adds USS/PSS; ``scope="cgroup"`` limits the top list to this
    process's cgroup. Raises NoSuchProcess for a ``pid`` that does not exist and
    InvalidInput for any bad argument (a bool or float ``pid``, a negative ``top``,
    an unknown ``scope``).
    """
    return Snapshot._from_json(_native.snapshot_json(pid, detailed, top, scope, gpu))


def status(gpu: bool = True) -> Record:
    """The one-line status and its numbers (RAM uses the container limit if tighter)."""
    return snapshot(top=0, gpu=gpu).status()


def status_line(gpu: bool = True) -> str:
    """``RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)`` ("GB" = 2^30 bytes)."""
    return str(status(gpu)["status"])


def format_bytes(n: int) -> str:
    """Bytes in binary units: ``format_bytes(1536) == "1.50 KiB"``.

    Raises InvalidInput for anything but a whole number of bytes (0 or more)."""
    return _native.format_bytes(n)


def parse_size(text: str) -> int:
    """``"512M"`` / ``"1.5G"`` / ``"4096"`` -> bytes (binary suffixes).

    Raises InvalidInput for a string that is not a size, and for a non-string."""
    return _native.parse_size(text)


def process_memory(pid: int | None = None, detailed: bool = False) -> Record:
    """RSS (anon/file/shmem), VMS, swap and, if ``detailed``, USS/PSS of ``pid``
    (default: this process). Raises InvalidInput for a ``pid`` that is not a
    positive int (a bool is never a PID), NoSuchProcess when there is none."""
    return loads(_native.process_json(os.getpid() if pid is None else pid, detailed))


def trim_process(
    pid: int,
    *,
    cold: bool = False,
    min_swap_free: int | str = _native.DEFAULT_MIN_SWAP_FREE,
    force: bool = False,
) -> Record:
    """Page the idle memory of ``pid`` out to swap (``memwarden trim``), behind the
    swap guard: free swap must cover what is paged out plus ``min_swap_free``
    (bytes, or a size such as ``"512M"``). Raises GuardRefused (nothing changed)
    when swap is short, naming ``force=True`` and ``min_swap_free``; InvalidInput
    for a bad argument."""
    return loads(_native.pageout_json(pid, cold, min_swap_free, force))


def purge_cache(*, slab: bool = False, compact: bool = False) -> Record:
    """sync + drop the page cache (needs root and a writable /proc/sys)."""
    return loads(_native.purge_cache_json(slab, compact))


def reclaim(nbytes: int | str) -> Record:
    """cgroup v2 ``memory.reclaim`` of this process's cgroup: ``nbytes`` (1 or more,
    or a size such as ``"512M"``)."""
    return loads(_native.reclaim_json(nbytes))


def trim_heap() -> Record:
    """Return this process's freed heap to the OS (glibc ``malloc_trim``)."""
    return loads(_native.trim_own_heap_json())
