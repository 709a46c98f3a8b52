"""memwarden: see and reclaim RAM, VRAM and swap for AI generation workloads.

A thin, typed layer over the Rust core (``memwarden._native``)::

    import memwarden
    snap = memwarden.snapshot()              # system, container, PSI, processes, GPUs
    print(snap.effective.percent_used)       # typed, read-only attributes
    print(memwarden.status_line())           # RAM: 8.5GB/16GB (53%) | VRAM: n/a
    report = memwarden.cleanup("balanced")   # the 7-step cleanup, with a report
    print(report.text)

Every report is a frozen class with the fields of the documented JSON schema
(docs/json-schema.md) as attributes and ``to_dict()`` for the JSON object itself.
"""

from __future__ import annotations

# The background manager, as ``memwarden.manager.start(...)`` / ``stop()`` / ``status()``.
from . import manager
from ._native import (
    SCHEMA_VERSION,
    Ambiguous,
    CgroupMemory,
    CleanupPlan,
    ContainerInfo,
    Decision,
    EffectiveMemory,
    GpuDevice,
    GpuInfo,
    GpuProcess,
    GuardRefused,
    GuardVerdict,
    HeapTrimReport,
    HistoryEntry,
    InvalidInput,
    MemwardenError,
    NoSuchProcess,
    Optimizer,
    PageFile,
    PageoutReport,
    PermissionDenied,
    PressureInfo,
    PressureReport,
    ProcessMemory,
    Protected,
    Psi,
    PsiLine,
    PurgeReport,
    ReclaimReport,
    Snapshot,
    StatusLine,
    Step,
    SystemMemory,
    TopProcesses,
    Unsupported,
    __version__,
    check_memory_pressure,
    cleanup_plan,
    format_bytes,
    metrics_content_type,
    metrics_text,
    normalize_mode,
    parse_size,
    process_memory,
    purge_cache,
    reclaim,
    snapshot,
    status,
    status_line,
    trim_heap,
    trim_process,
)
from .automation import Optimization, Trigger, optimize, shared_optimizer
from .cleanup import CleanupReport, cleanup
from .torch_memory import TorchDeviceMemory, torch_memory

__all__ = [
    "SCHEMA_VERSION",
    "Ambiguous",
    "CgroupMemory",
    "CleanupPlan",
    "CleanupReport",
    "ContainerInfo",
    "Decision",
    "EffectiveMemory",
    "GpuDevice",
    "GpuInfo",
    "GpuProcess",
    "GuardRefused",
    "GuardVerdict",
    "HeapTrimReport",
    "HistoryEntry",
    "InvalidInput",
    "MemwardenError",
    "NoSuchProcess",
    "Optimization",
    "Optimizer",
    "PageFile",
    "PageoutReport",
    "PermissionDenied",
    "PressureInfo",
    "PressureReport",
    "ProcessMemory",
    "Protected",
    "Psi",
    "PsiLine",
    "PurgeReport",
    "ReclaimReport",
    "Snapshot",
    "StatusLine",
    "Step",
    "SystemMemory",
    "TopProcesses",
    "TorchDeviceMemory",
    "Trigger",
    "Unsupported",
    "__version__",
    "check_memory_pressure",
    "cleanup",
    "cleanup_plan",
    "format_bytes",
    "manager",
    "metrics_content_type",
    "metrics_text",
    "normalize_mode",
    "optimize",
    "parse_size",
    "process_memory",
    "purge_cache",
    "reclaim",
    "shared_optimizer",
    "snapshot",
    "status",
    "status_line",
    "torch_memory",
    "trim_heap",
    "trim_process",
]
