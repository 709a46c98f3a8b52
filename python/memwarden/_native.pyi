"""Type stubs of memwarden._native, the Rust core (crates/memwarden-py).

Reports cross the boundary as frozen, typed classes wrapping the core's data model:
attributes are named as the fields of the documented JSON schema
(docs/json-schema.md), nested objects are these classes, lists are lists of them,
enums are their JSON strings and absent values are None. ``to_dict()`` returns
exactly the object ``memwarden ... --json`` prints; ``from_dict()`` and
``from_json()`` read one back. The classes compare by value, cannot be changed
(assigning an attribute raises AttributeError) and are not hashable.

Every argument is checked here: a value of the wrong kind (a bool or a float where
an integer belongs, 0/1 where True/False belongs) or out of range raises
InvalidInput (``kind == "invalid_input"``, ``exit_code == 2``) before anything
changes. Sizes (``min_swap_free``, ``nbytes``) are whole numbers of bytes or size
strings such as ``"512M"``.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Self, final

__version__: str
SCHEMA_VERSION: int
#: How a user sets up the external helper (a memwarden binary granted CAP_SYS_NICE).
HELPER_SETUP: str
DEFAULT_MIN_SWAP_FREE: int
#: How trim_process and SwapVerdict.text name the swap check's override and margin
#: by default (``"pass force=True"``, ``"min_swap_free"``).
PY_SWAP_HINTS: tuple[str, str]

class MemwardenError(Exception):
    kind: str
    exit_code: int

class NoSuchProcess(MemwardenError): ...
class InvalidInput(MemwardenError): ...
class PermissionDenied(MemwardenError): ...
class Unsupported(MemwardenError): ...

class SwapRefused(MemwardenError):
    """The swap check refused a pageout; nothing was changed."""

    #: The verdict with its figures.
    swap_check: SwapVerdict

class Protected(MemwardenError): ...
class Ambiguous(MemwardenError): ...

class HeadroomRefused(MemwardenError):
    """The headroom guard refused a load that cannot fit; nothing was loaded."""

    refusal: Refusal

# The JSON strings of the core's enums.
_ContainerRuntime = Literal["docker", "podman", "kubernetes", "runpod", "wsl", "lxc", "containerd", "other"]
_MemorySource = Literal["host", "cgroup"]
_PressureLevel = Literal["none", "low", "moderate", "high", "critical"]
_ProcessScope = Literal["visible", "cgroup"]
_GpuProcessKind = Literal["compute", "graphics"]
_PageoutAdvice = Literal["pageout", "cold"]
_CleanupMode = Literal["monitor", "conservative", "balanced", "aggressive"]

class _Model:
    """Stub only: what every class below has (it has no runtime base class)."""

    def to_dict(self) -> dict[str, Any]:
        """The object as the CLI's ``--json`` prints it (plain dicts and lists)."""
    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Self:
        """Read one back from a dict as ``to_dict()`` returns; InvalidInput otherwise."""
    @classmethod
    def from_json(cls, text: str) -> Self:
        """Read one back from JSON text as ``--json`` prints it; InvalidInput otherwise."""
    def __eq__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class Snapshot(_Model):
    """Everything `memwarden check` knows about the machine at one instant."""

    @property
    def schema_version(self) -> int: ...
    @property
    def taken_at_unix_ms(self) -> int: ...
    @property
    def collect_duration_us(self) -> int: ...
    @property
    def kernel(self) -> str: ...
    @property
    def process(self) -> ProcessMemory | None: ...
    @property
    def system(self) -> SystemMemory: ...
    @property
    def container(self) -> ContainerInfo: ...
    @property
    def effective(self) -> EffectiveMemory: ...
    @property
    def pressure(self) -> PressureInfo: ...
    @property
    def top_processes(self) -> TopProcesses: ...
    @property
    def gpu(self) -> GpuInfo: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def status_line(self) -> str:
        """``RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)`` ("GB" = 2^30 bytes)."""
    def report(self, color: bool = False) -> str:
        """The ``memwarden check`` text report."""
    def status(self) -> StatusLine:
        """The status line and the numbers behind it."""

@final
class SystemMemory(_Model):
    """Host-wide memory, from /proc/meminfo."""

    @property
    def total_bytes(self) -> int: ...
    @property
    def available_bytes(self) -> int: ...
    @property
    def available_estimated(self) -> bool: ...
    @property
    def free_bytes(self) -> int: ...
    @property
    def used_bytes(self) -> int: ...
    @property
    def percent_used(self) -> float: ...
    @property
    def buffers_bytes(self) -> int: ...
    @property
    def cached_bytes(self) -> int: ...
    @property
    def shmem_bytes(self) -> int: ...
    @property
    def swap_total_bytes(self) -> int: ...
    @property
    def swap_free_bytes(self) -> int: ...
    @property
    def swap_used_bytes(self) -> int: ...
    @property
    def swap_cached_bytes(self) -> int: ...
    @property
    def committed_bytes(self) -> int: ...
    @property
    def commit_limit_bytes(self) -> int: ...
    @property
    def page_files(self) -> list[PageFile]:
        """The page files with their drives' free space (Windows); empty on Linux."""

@final
class PageFile(_Model):
    """A page file (Windows) and the free space of the drive holding it."""

    @property
    def path(self) -> str: ...
    @property
    def total_bytes(self) -> int: ...
    @property
    def used_bytes(self) -> int: ...
    @property
    def drive(self) -> str: ...
    @property
    def drive_free_bytes(self) -> int | None: ...

@final
class ContainerInfo(_Model):
    """Container runtime and the memory cgroup of the inspected process."""

    @property
    def detected(self) -> bool: ...
    @property
    def runtime(self) -> _ContainerRuntime | None: ...
    @property
    def evidence(self) -> list[str]: ...
    @property
    def cgroup(self) -> CgroupMemory | None: ...

@final
class CgroupMemory(_Model):
    """Memory accounting of the process's own cgroup (v1 or v2)."""

    @property
    def version(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def dir(self) -> str: ...
    @property
    def limit_bytes(self) -> int | None: ...
    @property
    def limit_set_at(self) -> str | None: ...
    @property
    def high_bytes(self) -> int | None: ...
    @property
    def usage_bytes(self) -> int: ...
    @property
    def working_set_bytes(self) -> int: ...
    @property
    def inactive_file_bytes(self) -> int: ...
    @property
    def anon_bytes(self) -> int | None: ...
    @property
    def file_bytes(self) -> int | None: ...
    @property
    def swap_limit_bytes(self) -> int | None: ...
    @property
    def swap_limit_set_at(self) -> str | None: ...
    @property
    def swap_usage_bytes(self) -> int | None: ...

@final
class EffectiveMemory(_Model):
    """The figures to judge memory by: the container's limit or the host's."""

    @property
    def source(self) -> _MemorySource: ...
    @property
    def reason(self) -> str: ...
    @property
    def total_bytes(self) -> int: ...
    @property
    def used_bytes(self) -> int: ...
    @property
    def available_bytes(self) -> int: ...
    @property
    def percent_used(self) -> float: ...

@final
class PressureInfo(_Model):
    """Memory pressure (PSI) and its plain-words level."""

    @property
    def system(self) -> Psi | None: ...
    @property
    def cgroup(self) -> Psi | None: ...
    @property
    def level(self) -> _PressureLevel: ...
    @property
    def description(self) -> str: ...

@final
class Psi(_Model):
    """PSI of one file: "some" and, where reported, "full"."""

    @property
    def some(self) -> PsiLine: ...
    @property
    def full(self) -> PsiLine | None: ...

@final
class PsiLine(_Model):
    """One PSI line: share of wall time tasks stalled on memory."""

    @property
    def avg10(self) -> float: ...
    @property
    def avg60(self) -> float: ...
    @property
    def avg300(self) -> float: ...
    @property
    def total_us(self) -> int: ...

@final
class TopProcesses(_Model):
    """The largest processes by RSS."""

    @property
    def scope(self) -> _ProcessScope: ...
    @property
    def scanned(self) -> int: ...
    @property
    def processes(self) -> list[ProcessMemory]: ...

@final
class ProcessMemory(_Model):
    """Memory of one process, from /proc/PID/{status,statm,smaps_rollup}."""

    @property
    def pid(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def cmdline(self) -> str: ...
    @property
    def rss_bytes(self) -> int: ...
    @property
    def rss_anon_bytes(self) -> int: ...
    @property
    def rss_file_bytes(self) -> int: ...
    @property
    def rss_shmem_bytes(self) -> int: ...
    @property
    def vms_bytes(self) -> int: ...
    @property
    def swap_bytes(self) -> int: ...
    @property
    def uss_bytes(self) -> int | None: ...
    @property
    def pss_bytes(self) -> int | None: ...
    @property
    def swap_pss_bytes(self) -> int | None: ...

@final
class GpuInfo(_Model):
    """NVIDIA GPUs and the processes holding their memory."""

    @property
    def available(self) -> bool: ...
    @property
    def unavailable_reason(self) -> str | None: ...
    @property
    def driver_version(self) -> str | None: ...
    @property
    def devices(self) -> list[GpuDevice]: ...
    @property
    def processes(self) -> list[GpuProcess]: ...
    @property
    def pid_namespace_note(self) -> str | None: ...

@final
class GpuDevice(_Model):
    """One GPU as NVML reports it."""

    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def uuid(self) -> str: ...
    @property
    def total_bytes(self) -> int: ...
    @property
    def used_bytes(self) -> int: ...
    @property
    def free_bytes(self) -> int: ...
    @property
    def percent_used(self) -> float: ...
    @property
    def utilization_gpu_percent(self) -> int | None: ...
    @property
    def utilization_memory_percent(self) -> int | None: ...
    @property
    def cuda_ordinal(self) -> int | None:
        """The CUDA device number (torch's ordinal) for this process, CUDA_VISIBLE_DEVICES
        honoured; None when hidden."""

@final
class GpuProcess(_Model):
    """A process holding GPU memory, joined with the process table."""

    @property
    def gpu_index(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def kind(self) -> _GpuProcessKind: ...
    @property
    def used_bytes(self) -> int | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def cmdline(self) -> str | None: ...
    @property
    def visible(self) -> bool: ...

@final
class StatusLine(_Model):
    """`memwarden status --json`: the one-line status and the numbers behind it."""

    @property
    def schema_version(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def ram_used_bytes(self) -> int: ...
    @property
    def ram_total_bytes(self) -> int: ...
    @property
    def ram_percent(self) -> float: ...
    @property
    def ram_source(self) -> _MemorySource: ...
    @property
    def vram_used_bytes(self) -> int | None: ...
    @property
    def vram_total_bytes(self) -> int | None: ...
    @property
    def vram_percent(self) -> float | None: ...
    @property
    def pressure(self) -> _PressureLevel: ...

@final
class Step(_Model):
    """One step of an action and its outcome ("open : ok")."""

    @property
    def name(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def detail(self) -> str: ...

@final
class SwapVerdict(_Model):
    """The swap check's verdict on a pageout: the finding with its figures, and
    ``reason``, the verdict worded by the face that asked."""

    @property
    def allowed(self) -> bool: ...
    @property
    def forced(self) -> bool: ...
    @property
    def swap_free_bytes(self) -> int: ...
    @property
    def needed_bytes(self) -> int: ...
    @property
    def margin_bytes(self) -> int: ...
    @property
    def finding(self) -> dict[str, Any]:
        """What was found, as its JSON object: ``{"kind": "short"}``, ``"no_swap"``,
        ``"no_allowance"``, ``"covered"``, ``"cold_only"``, or on Windows
        ``"drive_short"`` / ``"drive_unreadable"`` / ``"drives_cover"`` with the drive."""
    @property
    def allowance(self) -> dict[str, int] | None:
        """The cgroup's swap allowance (``left_bytes``, ``limit_bytes``) when it caps."""
    @property
    def commit(self) -> dict[str, int] | None:
        """Windows: ``committed_bytes`` and ``limit_bytes`` of the commit charge."""
    @property
    def reason(self) -> str: ...
    def text(self, force_hint: str = ..., margin_hint: str = ...) -> str:
        """The verdict in words, naming the override and the margin as the caller
        calls them (by default as trim_process does)."""

@final
class PageoutReport(_Model):
    """Result of `memwarden trim`: paging a process's idle memory out."""

    @property
    def schema_version(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def cmdline(self) -> str: ...
    @property
    def advice(self) -> _PageoutAdvice: ...
    @property
    def steps(self) -> list[Step]: ...
    @property
    def ranges_advised(self) -> int: ...
    @property
    def bytes_advised(self) -> int: ...
    @property
    def ranges_skipped(self) -> int: ...
    @property
    def rss_before_bytes(self) -> int: ...
    @property
    def rss_after_bytes(self) -> int: ...
    @property
    def rss_anon_before_bytes(self) -> int: ...
    @property
    def rss_anon_after_bytes(self) -> int: ...
    @property
    def swap_before_bytes(self) -> int: ...
    @property
    def swap_after_bytes(self) -> int: ...
    @property
    def freed_bytes(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def swap_check(self) -> SwapVerdict: ...
    @property
    def moved_to_swap_bytes(self) -> int:
        """What moved to swap: VmSwap's growth (0 when it shrank meanwhile)."""
    def text(self) -> str:
        """The ``memwarden trim`` text report."""

@final
class PurgeReport(_Model):
    """Result of `memwarden purge-cache`."""

    @property
    def schema_version(self) -> int: ...
    @property
    def steps(self) -> list[Step]: ...
    @property
    def available_before_bytes(self) -> int: ...
    @property
    def available_after_bytes(self) -> int: ...
    @property
    def cached_before_bytes(self) -> int: ...
    @property
    def cached_after_bytes(self) -> int: ...
    @property
    def free_before_bytes(self) -> int: ...
    @property
    def free_after_bytes(self) -> int: ...
    @property
    def cache_dropped_bytes(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...
    def text(self) -> str:
        """The ``memwarden purge-cache`` text report."""

@final
class ReclaimReport(_Model):
    """Result of `memwarden reclaim` (cgroup v2 memory.reclaim)."""

    @property
    def schema_version(self) -> int: ...
    @property
    def cgroup_dir(self) -> str: ...
    @property
    def requested_bytes(self) -> int: ...
    @property
    def fully_reclaimed(self) -> bool: ...
    @property
    def usage_before_bytes(self) -> int: ...
    @property
    def usage_after_bytes(self) -> int: ...
    @property
    def reclaimed_bytes(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...
    def text(self) -> str:
        """The ``memwarden reclaim`` text report."""

@final
class HeapTrimReport(_Model):
    """Result of returning this process's free heap to the OS (malloc_trim, HeapCompact)."""

    @property
    def schema_version(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def call(self) -> str:
        """The call that returned the heap: ``malloc_trim`` (glibc), ``HeapCompact`` (Windows)."""
    @property
    def resident(self) -> str:
        """What the resident memory is called on this OS: ``RSS``, ``working set``."""
    @property
    def released(self) -> bool: ...
    @property
    def rss_before_bytes(self) -> int: ...
    @property
    def rss_after_bytes(self) -> int: ...
    @property
    def freed_bytes(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def line(self) -> str:
        """``malloc_trim: RSS 1.234 GB -> 1.100 GB``."""

@final
class CleanupPlan(_Model):
    """What a cleanup mode runs (each step may still be overridden by the caller)."""

    @property
    def mode(self) -> _CleanupMode: ...
    @property
    def unload_models(self) -> bool: ...
    @property
    def drop_node_cache(self) -> bool: ...
    @property
    def gc_passes(self) -> int: ...
    @property
    def reset_peak_stats(self) -> bool: ...
    @property
    def pageout_self(self) -> bool: ...

@final
class VramPlan(_Model):
    """What the VRAM Optimizer does at a level."""

    @property
    def mode(self) -> _CleanupMode: ...
    @property
    def unload_models(self) -> bool: ...
    @property
    def collect_garbage(self) -> bool: ...
    @property
    def ipc_collect(self) -> bool: ...
    @property
    def synchronize(self) -> bool: ...

@final
class PressureReport(_Model):
    """The pressure level, the figures behind it and what to do about it."""

    @property
    def level(self) -> _PressureLevel: ...
    @property
    def description(self) -> str: ...
    @property
    def ram_percent(self) -> float: ...
    @property
    def vram_percent(self) -> float | None: ...
    @property
    def swap_percent(self) -> float | None: ...
    @property
    def source(self) -> _MemorySource: ...
    @property
    def recommendations(self) -> list[str]: ...

@final
class Decision(_Model):
    """Whether the automatic optimization acts now, and why (or why not)."""

    @property
    def act(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def by_threshold(self) -> bool: ...

@final
class HistoryEntry(_Model):
    """One optimization the trigger recorded."""

    @property
    def at_unix_ms(self) -> int: ...
    @property
    def mode(self) -> _CleanupMode: ...
    @property
    def trigger(self) -> str: ...
    @property
    def freed_bytes(self) -> int: ...

@final
class Optimizer:
    """The automatic optimization's memory: when it last acted, whether a threshold
    may trigger again, its last 10 optimizations. ``clock`` (monotonic seconds)
    defaults to the process's own."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None: ...
    def decide(
        self,
        snapshot: Snapshot,
        *,
        enabled: bool = ...,
        mode: str = ...,
        every_run: bool = ...,
        on_threshold: bool = ...,
        ram_threshold: float = ...,
        vram_threshold: float = ...,
        cooldown_s: float = ...,
        hysteresis: float = ...,
    ) -> Decision:
        """The arguments left out take the core's defaults (``default_trigger_config()``)."""
    def record(self, decision: Decision, freed_bytes: int) -> None: ...
    def cooldown_left(self, cooldown_s: float) -> float: ...
    @property
    def history(self) -> list[HistoryEntry]: ...

def normalize_mode(mode: str) -> _CleanupMode:
    """monitor, conservative, balanced or aggressive, from any seed name."""

@final
class TrendTest(_Model):
    """The Mann-Kendall statistics of one series (S, its variance with ties, Z, p)."""

    @property
    def n(self) -> int: ...
    @property
    def s(self) -> int: ...
    @property
    def var_s(self) -> float: ...
    @property
    def z(self) -> float: ...
    @property
    def p(self) -> float: ...

@final
class LeakVerdict(_Model):
    """Is the series leaking: verdict, Theil-Sen slope (bytes per prompt), the trend
    test, points used after warm-up, and why."""

    @property
    def leak(self) -> bool: ...
    @property
    def slope_bytes_per_prompt(self) -> float: ...
    @property
    def trend(self) -> TrendTest | None: ...
    @property
    def points(self) -> int: ...
    @property
    def reason(self) -> str: ...

@final
class NodeSuspect(_Model):
    """What one node type's executions left behind, with its own verdict (slope in
    bytes per execution)."""

    @property
    def node_type(self) -> str: ...
    @property
    def executions(self) -> int: ...
    @property
    def median_rss_bytes(self) -> float: ...
    @property
    def total_rss_bytes(self) -> int: ...
    @property
    def median_vram_bytes(self) -> float: ...
    @property
    def total_vram_bytes(self) -> int: ...
    @property
    def median_traced_bytes(self) -> float | None: ...
    @property
    def total_traced_bytes(self) -> int | None: ...
    @property
    def verdict(self) -> LeakVerdict: ...

def self_rss_bytes() -> int:
    """This process's resident set size in bytes (the cheapest reading the OS offers)."""

def assess_leak(
    series: Sequence[float],
    warmup: int = ...,
    min_points: int = ...,
    alpha: float = ...,
    min_slope_mb: float = ...,
) -> LeakVerdict:
    """The leak verdict on a per-prompt series of bytes (warm-up prompts included):
    a leak when the Mann-Kendall trend is significant at ``alpha`` and the Theil-Sen
    slope is at least ``min_slope_mb`` MB per prompt."""

def assess_series(
    series: Mapping[str, Sequence[float]], knobs: Mapping[str, float]
) -> tuple[dict[str, LeakVerdict], bool, float]:
    """The verdict on each per-prompt series, whether any leaks, and the steepest
    slope (bytes per prompt)."""

def leak_status_line(leak: bool, slope_bytes_per_prompt: float, prompts: int) -> str:
    """The Memory Leak Detector's status line."""

def leak_feed_text(prompts: int, verdict: LeakVerdict | None = None) -> str:
    """The panel's leak section in words (None: no prompt finished yet)."""

def growing_types(samples: Sequence[Mapping[str, int]], alpha: float = ..., limit: int = 5) -> list[str]:
    """Object types whose live count keeps growing over the sampled prompts, as
    ``name +growth``, most first."""

def grown_sites(sites: Sequence[tuple[str, int, int, int, int]], threshold_mb: float, limit: int = 10) -> list[str]:
    """The allocation sites (file, line, size_diff, count_diff, size) that grew by at
    least ``threshold_mb``, largest first, in words."""

def attribute_nodes(
    records: Sequence[tuple[str, int, int, int, int | None]],
    warmup: int = ...,
    min_points: int = ...,
    alpha: float = ...,
    min_slope_mb: float = ...,
) -> list[NodeSuspect]:
    """Per node type, what its executions left behind, suspects first. ``records``:
    (node_type, prompt_index, delta_rss, delta_vram, delta_traced or None), one per
    execution; host memory retained is the traced delta when a type's every
    execution was traced, else RSS."""

def cleanup_plan(mode: str) -> CleanupPlan:
    """What the cleanup mode ``mode`` runs."""

def vram_plan(mode: str) -> VramPlan:
    """What the VRAM Optimizer does at ``mode`` (Conservative, Moderate, Aggressive)."""

def check_memory_pressure(snap: Snapshot | Mapping[str, Any] | None = None) -> PressureReport:
    """The pressure level and what to do about it (a snapshot taken now when None)."""

def metrics_text(
    snapshot: Snapshot | Mapping[str, Any] | None = None,
    activity: Mapping[str, Any] | None = None,
    *,
    accept: str | None = None,
) -> str:
    """The snapshot (of this process, taken now when None) as Prometheus text: 0.0.4,
    or OpenMetrics when ``accept`` (an HTTP Accept header) asks for it. ``activity``
    adds the cleanup and leak series: ``{"cleanups": [{"action": str, "trigger": str,
    "count": int, "reclaimed_bytes": int}, ...], "leak_slope_bytes_per_prompt":
    float | None}``. Series names: docs/metrics.md."""

def metrics_content_type(accept: str | None = None) -> str:
    """The Content-Type of ``metrics_text(..., accept=accept)``."""

def snapshot(
    pid: int | None = None,
    *,
    detailed: bool = False,
    top: int = 10,
    scope: Literal["visible", "cgroup"] = "visible",
    gpu: bool = True,
) -> Snapshot:
    """Take a snapshot: the process ``pid`` (default: this one), system, container
    limit, pressure, the ``top`` processes by RSS and the GPUs. ``detailed`` adds
    USS/PSS; ``scope="cgroup"`` limits the top list to this process's cgroup."""

def status(gpu: bool = True) -> StatusLine:
    """The one-line status and its numbers (RAM uses the container limit if tighter)."""

def status_line(gpu: bool = True) -> str:
    """``RAM: 8.5GB/16GB (53%) | VRAM: 12.3GB/24GB (51%)`` ("GB" = 2^30 bytes)."""

def process_memory(pid: int | None = None, detailed: bool = False) -> ProcessMemory:
    """RSS, VMS, swap and, if ``detailed``, USS/PSS of ``pid`` (default: this process)."""

def trim_process(
    pid: int,
    *,
    cold: bool = False,
    min_swap_free: int | str = ...,
    force: bool = False,
    force_hint: str | None = None,
    margin_hint: str | None = None,
) -> PageoutReport:
    """Page the idle memory of ``pid`` out to swap behind the swap check (SwapRefused,
    nothing changed, when free swap would not cover it plus ``min_swap_free``)."""

def purge_cache(*, slab: bool = False, compact: bool = False) -> PurgeReport:
    """sync + drop the page cache (needs root and a writable /proc/sys)."""

def reclaim(nbytes: int | str) -> ReclaimReport:
    """cgroup v2 ``memory.reclaim`` of this process's cgroup."""

def trim_heap() -> HeapTrimReport:
    """Return this process's freed heap to the OS (glibc ``malloc_trim``)."""

def format_bytes(n: int) -> str:
    """Bytes in binary units: ``format_bytes(1536) == "1.50 KiB"``."""

def parse_size(s: str) -> int:
    """``"512M"`` / ``"1.5G"`` / ``"4096"`` -> bytes (binary suffixes)."""

def run_cli(argv: list[str]) -> int:
    """Run the ``memwarden`` command line with ``argv`` (program name first); returns
    the exit code and never exits the interpreter."""

# The same checks, for the Python layer and the ComfyUI nodes: each returns the
# value (converted) or raises InvalidInput naming ``name``.
def check_int(name: str, value: object, min: int | None = None, max: int | None = None) -> int: ...
def check_number(name: str, value: object, min: float, max: float) -> float: ...
def check_flag(name: str, value: object) -> bool: ...
def check_size(name: str, value: object, min: int = 0) -> int: ...
def check_choice(name: str, value: object, choices: list[str]) -> str: ...
def invalid_input(message: str) -> InvalidInput: ...

# The background manager's core (memwarden.manager carries it out).

_AlertLevel = Literal["normal", "warning", "critical"]
_Outcome = Literal["freed", "nothing_freed", "failed"]
_ManagerAct = Literal["nothing", "heap_trim", "cleanup"]

@final
class PressureWatch:
    """A PSI trigger (poll(2), the GIL released) or, where none can be
    registered, sampling; ``description`` says which and why."""

    def __init__(
        self,
        stall_s: float | None = None,
        window_s: float | None = None,
        sample_s: float | None = None,
        files: list[str] | None = None,
        sampling: bool = False,
    ) -> None: ...
    def wait(self, timeout_s: float) -> bool: ...
    @property
    def is_trigger(self) -> bool: ...
    @property
    def description(self) -> str: ...

@final
class ManagerDecision(_Model):
    """What the manager does now, and why."""

    @property
    def act(self) -> _ManagerAct: ...
    @property
    def mode(self) -> _CleanupMode: ...
    @property
    def level(self) -> _AlertLevel: ...
    @property
    def drop_cache(self) -> bool: ...
    @property
    def reason(self) -> str: ...

@final
class ManagerStep(_Model):
    """One step of a manager action."""

    @property
    def name(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def detail(self) -> str: ...
    @property
    def freed_bytes(self) -> int | None: ...
    @property
    def duration_ms(self) -> float: ...

@final
class ManagerAction(_Model):
    """One thing the manager did (an action, or a fault it met)."""

    @property
    def at_unix_ms(self) -> int: ...
    @property
    def trigger(self) -> str: ...
    @property
    def level(self) -> _AlertLevel: ...
    @property
    def mode(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def steps(self) -> list[ManagerStep]: ...
    @property
    def freed_bytes(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def outcome(self) -> _Outcome: ...
    @property
    def error(self) -> str | None: ...
    @property
    def latency_ms(self) -> float | None: ...

@final
class GroupStats(_Model):
    """Statistics of one trigger or one step."""

    @property
    def name(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def freed_bytes(self) -> int: ...
    @property
    def mean_duration_ms(self) -> float: ...

@final
class ManagerStats(_Model):
    """Statistics over a manager history."""

    @property
    def count(self) -> int: ...
    @property
    def freed(self) -> int: ...
    @property
    def nothing_freed(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def freed_total_bytes(self) -> int: ...
    @property
    def mean_duration_ms(self) -> float: ...
    @property
    def first_unix_ms(self) -> int | None: ...
    @property
    def last_unix_ms(self) -> int | None: ...
    @property
    def by_trigger(self) -> list[GroupStats]: ...
    @property
    def by_step(self) -> list[GroupStats]: ...
    def text(self) -> str:
        """The statistics in words, as ``memwarden history --stats`` prints them."""

@final
class ManagerPolicy:
    """The manager's policy and memory; each call takes the caller's clock."""

    def __init__(self, config: Mapping[str, Any]) -> None: ...
    def configure(self, config: Mapping[str, Any]) -> None: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def state(self) -> dict[str, Any]: ...
    def wake(self, snapshot: Snapshot, wake: str, running_node: bool, now_s: float) -> ManagerDecision: ...
    def record_action(self, decision: ManagerDecision, run: dict[str, Any], now_s: float) -> ManagerAction:
        """The action of ``decision`` ran (``run``: at_unix_ms, trigger, steps,
        freed_bytes, duration_ms, raised) and ended at ``now_s``: cooldown, back-off
        and escalation updated; its history entry, judged by the core."""
    def fault(self, at_unix_ms: int, trigger: str, text: str) -> ManagerAction:
        """A fault met outside any action, as a failed history entry at the level now."""

@final
class HistoryFile:
    """A history file (JSON lines) kept to its last ``keep`` actions."""

    def __init__(self, path: str | os.PathLike[str], keep: int) -> None: ...
    def append(self, action: ManagerAction | Mapping[str, Any]) -> None: ...
    @property
    def path(self) -> str: ...

def critical_above(warning: float) -> float:
    """The critical level a single ``warning`` threshold implies (10 points above, at
    most 100)."""

def fault_text(fault: Mapping[str, Any]) -> str:
    """A fault in one line (a dict of the core's Fault, tagged by "fault")."""

def default_manager_config() -> dict[str, Any]: ...
def default_manager_runner() -> dict[str, Any]:
    """How the manager's threads run by default (``ManagerRunner::default()``):
    use_psi, check_s, sample_s, settle_s, history_keep, history_file."""

def check_manager_runner(settings: dict[str, Any]) -> None:
    """Checks the runner's settings (a dict of its fields): InvalidInput naming the
    first that is wrong."""

def manager_restarts(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether going from the runner settings ``old`` to ``new`` restarts the
    manager's threads (another pressure watch or history); else the running manager
    is reconfigured and keeps its memory."""

def restart_delay_s(restarts: int) -> float:
    """Seconds the supervisor waits before restarting a worker that died, after
    ``restarts`` restarts so far (1 s, doubling up to 60 s)."""

def default_trigger_config() -> dict[str, Any]:
    """The core's default automatic-optimization trigger, as a dict."""

def manager_stats(actions: list[ManagerAction] | list[Mapping[str, Any]]) -> ManagerStats: ...
def history_text(actions: list[ManagerAction] | list[Mapping[str, Any]]) -> str:
    """The actions in words, one block each, as ``memwarden history`` prints them."""

def read_history(path: str | os.PathLike[str]) -> tuple[list[ManagerAction], int]:
    """Every action in ``path`` (missing: none), and the malformed lines skipped."""

# --- the headroom guard ---------------------------------------------------------

_LimitKind = Literal["cgroup_max", "cgroup_high", "cgroup_memsw", "host", "job", "commit"]
_WakeReason = Literal["crossed", "limit_changed", "timeout"]
_Component = Literal["diffusion", "text_encoder", "vae", "other"]
_GivebackStep = Literal["release_models", "drop_outputs", "trim_heap", "page_out"]

@final
class Headroom(_Model):
    """One reading of the limit that binds and how much is left under it."""

    @property
    def kind(self) -> _LimitKind: ...
    @property
    def set_at(self) -> str: ...
    @property
    def limit_bytes(self) -> int: ...
    @property
    def used_bytes(self) -> int: ...
    @property
    def headroom_bytes(self) -> int: ...
    @property
    def at_ns(self) -> int: ...
    @property
    def line(self) -> str: ...

@final
class HeadroomWake(_Model):
    """Why the headroom watch woke, with the reading that decided it."""

    @property
    def reason(self) -> _WakeReason: ...
    @property
    def reading(self) -> Headroom: ...
    @property
    def reserve_bytes(self) -> int: ...
    @property
    def crossed_at_ns(self) -> int | None: ...
    @property
    def woken_by(self) -> str: ...
    @property
    def line(self) -> str: ...

@final
class ComponentNeed(_Model):
    """One part of a model file and what it takes in RAM."""

    @property
    def component(self) -> _Component: ...
    @property
    def params(self) -> int: ...
    @property
    def load_itemsize(self) -> int: ...
    @property
    def bytes(self) -> int: ...

@final
class LoadPrediction(_Model):
    """What loading a model file is predicted to take in RAM, and from what."""

    @property
    def bytes(self) -> int: ...
    @property
    def source(self) -> Literal["history", "header", "file_size"]: ...
    @property
    def parts(self) -> list[ComponentNeed]: ...
    @property
    def reason(self) -> str: ...
    @property
    def line(self) -> str: ...

@final
class Refusal(_Model):
    """A refusal with its figures; nothing was changed."""

    @property
    def cause(self) -> Literal["headroom", "swap"]: ...
    @property
    def what(self) -> str: ...
    @property
    def needed_bytes(self) -> int: ...
    @property
    def free_bytes(self) -> int: ...
    @property
    def margin_bytes(self) -> int: ...
    @property
    def limit_bytes(self) -> int | None: ...
    @property
    def limit_set_at(self) -> str | None: ...
    def text(self, reserve: str = "--reserve") -> str: ...

@final
class LoadPlan(_Model):
    """What to do before a load."""

    @property
    def decision(self) -> Literal["proceed", "make_room", "refuse"]: ...
    @property
    def make_room_bytes(self) -> int: ...
    @property
    def refusal(self) -> Refusal | None: ...

@final
class GivebackPlan(_Model):
    """What the guard gives back after a wake, in order."""

    @property
    def shortfall_bytes(self) -> int: ...
    @property
    def steps(self) -> list[_GivebackStep]: ...
    @property
    def reason(self) -> str: ...
    @property
    def runs(self) -> list[tuple[int, _GivebackStep, str]]:
        """The steps the guard runs: (place in the plan, step, its name in the
        history); dropping the cached outputs goes with releasing the models."""
    @property
    def drops_outputs(self) -> bool:
        """The cached node outputs are dropped (with the models, or on their own)."""

@final
class HeadroomWatch:
    """Waits (the GIL released) for headroom under the binding limit to fall
    through the reserve: kernel events where the process may have them, reads paced
    for the fastest allocation seen between them."""

    def __init__(self, pid: int | None = None, reserve: int | str | None = None) -> None: ...
    def read(self) -> Headroom: ...
    def wait(self, timeout_s: float) -> HeadroomWake: ...
    def set_reserve(self, reserve: int | str | None = None) -> None: ...
    @property
    def reserve(self) -> int: ...
    @property
    def rate(self) -> int: ...
    @property
    def description(self) -> str: ...

def plan_giveback(
    reading: Headroom,
    reserve: int,
    *,
    models_bytes: int = 0,
    prompt_running: bool = False,
    swap_free_bytes: int = 0,
) -> GivebackPlan:
    """What to give back after ``reading``, in the core's order."""

def guard_status_text(status: dict[str, Any]) -> str:
    """The headroom guard's status (the dict ``GuardStatus.text`` builds) in words."""

def default_leak_config() -> dict[str, Any]:
    """The core's default leak settings: warmup, min_points, alpha, min_slope_mb."""

def leak_report_text(report: dict[str, Any]) -> str:
    """The Memory Leak Detector's report (the dict ``LeakReport.text()`` builds) in words."""

def manager_status_text(status: dict[str, Any]) -> str:
    """The background manager's status (the dict ``ManagerStatus.text`` builds) in words."""

def freed_phrase(freed_bytes: int) -> str:
    """``freed 1.234 GB`` for a measured change in bytes (positive = freed); growth
    reads ``freed 0.000 GB (grew 0.012 GB)``, never ``-0.000``."""

def torch_cache_detail(report: dict[str, Any]) -> str:
    """Releasing torch's CUDA caches in one line (the dict of a TorchCacheReport)."""

def torch_cache_lines(report: dict[str, Any], gpus: Sequence[GpuDevice] = ()) -> list[str]:
    """Releasing torch's CUDA caches, a line per device, then the total."""

def helper_answer(
    name: str, stdout: str, stderr: str, status: int
) -> PageoutReport | tuple[str, str, int | None, SwapVerdict | None]:
    """What the external helper printed, judged by the core: its report, or (error,
    kind, exit_code, swap_check) saying what it refused or what was wrong."""

def pageout_attempt(attempt: dict[str, Any]) -> tuple[bool, list[str]]:
    """How paging this process out went (a dict of the core's PageoutAttempt, tagged
    by "outcome"): whether the step went as it may, and its parts of the line."""

def paged_out(report: PageoutReport) -> tuple[bool, list[str]]:
    """The in-process pageout went ahead (``report``): whether the step went as it
    may, and its parts of the line."""

def memory_cleaner_choices(aggressive_trim: bool, purge_cache: bool) -> dict[str, Any]:
    """The Memory Cleaner (Force) node's cleanup, as ``memwarden.cleanup()``'s mode
    and the options it sets."""

def cleanup_freed(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    """What a cleanup freed, as the core counts it from its report's fields:
    (process RSS, RAM used under the binding limit, VRAM, process RSS plus VRAM),
    bytes; negative where it grew."""

def step_line(index: int, name: str, detail: str) -> str:
    """A step as it is logged when it ends: ``[5/7] OS-level trim: what it did``."""

def step_failed(raised: str) -> str:
    """A step that raised ``raised`` (``TypeName: message``), in its line."""

def cleanup_steps(
    choices: dict[str, Any], facts: dict[str, Any]
) -> list[tuple[int, str, dict[str, Any] | None, str | None]]:
    """The steps of one cleanup in order, each (index, name, action, skip): the action
    a dict tagged by "kind" (unload_models, drop_node_cache, collect_garbage,
    torch_caches, os_trim, gpu_sync, purge_cache), or None with the line saying why
    the step is skipped."""

def heap_trim_steps(purge_cache: bool) -> list[tuple[int, str, dict[str, Any] | None, str | None]]:
    """The background manager's non-disruptive action, as steps of the cleanup."""

def step_done(done: dict[str, Any]) -> str:
    """What a step did in one line (a dict of the core's StepDone, tagged by "done")."""

def no_cuda_reason(absence: dict[str, Any]) -> str:
    """Why torch sees no CUDA device (a dict of the core's CudaAbsence)."""

def trim_heap_detail() -> str:
    """Return this process's free heap to the OS and say what it did in one line."""

def helper_choice(value: str) -> tuple[str | None, str | None]:
    """What MEMWARDEN_HELPER's value names: (the binary's path, or None for the
    default; what is wrong with it, or None)."""

def helper_attempt(
    refused: str,
    helper: str,
    own_privileges: bool,
    answer: PageoutReport | tuple[str, str, int | None, SwapVerdict | None],
    force_hint: str,
    margin_hint: str,
) -> tuple[bool, list[str]]:
    """The pageout's fallback through the external helper: whether the step went as
    it may, and its parts of the line (the helper's swap verdict worded with the
    caller's hints)."""

def privileges_note(value: str) -> str | None:
    """The Memory Cleaner's privileges line where there is nothing to elevate (Linux),
    with what the external helper (MEMWARDEN_HELPER's ``value``) would run; None on
    Windows."""

def default_state_directory() -> os.PathLike[str] | None:
    """The folder memwarden keeps its files in outside ComfyUI; None when no variable
    names one."""

NODE_DEFAULT_MARGIN_GB: float

def ram_figures(reading: Headroom, total: int, available: int, free: int) -> tuple[int, int, int, int, float] | None:
    """RAM as psutil should show it under ``reading``'s limit: (total, available,
    used, free, percent); None when no limit is tighter than host RAM."""

def pinned_cap(current: float, limit_bytes: int) -> float | None:
    """ComfyUI's cap on pinned host memory under ``limit_bytes``; None when pinning is
    off."""

def monitor_report(snap: Snapshot, warning_threshold: float, detailed: bool) -> tuple[str, bool, PressureReport]:
    """The Memory Monitor's run on ``snap``: its report (the snapshot's, or its status
    line, then the pressure and what to do), whether usage is at or above
    ``warning_threshold`` percent, and the pressure report."""

def manager_node_report(
    snap: Snapshot,
    detailed: bool,
    monitoring: bool,
    performed: bool,
    reason: str,
    cleanup_text: str | None,
    history: Sequence[HistoryEntry],
    utc_offset_s: int,
) -> str:
    """The Unified Memory Manager's report: the snapshot and its GPU holders, the
    optimizer's decision, the cleanup's report and the last optimizations."""

def vram_unload_report(unloaded: str, before: int | None, after: int | None, nvml: str, torch: str) -> str:
    """The VRAM Unload node's report: the unload's line, then VRAM before and after
    (or, when either is None, what NVML and torch say instead)."""

def models_line(unloaded: str | None) -> str:
    """The VRAM nodes' unload line (None: not running inside ComfyUI)."""

def vram_optimizer_title(level: str, gpu: int | None) -> str:
    """The VRAM Optimizer's first line (``gpu`` None: all GPUs)."""

FEED_MIN_INTERVAL_S: float
FEED_MAX_INTERVAL_S: float
FEED_DEFAULT_INTERVAL_S: float

def cleanup_request(text: str) -> str:
    """``POST /memwarden/cleanup``'s body: the canonical name of the mode it asks for;
    ValueError saying nothing was done, naming the field and what was wrong."""

def cleanup_refusal(mode: str, running_prompt: str | None, busy: bool) -> str | None:
    """Why the panel's cleanup in ``mode`` may not start now (409), in words; None
    when it may."""

def feed_request(text: str) -> tuple[str, float, bool]:
    """``POST /memwarden/feed``'s body: (client_id, interval_s within bounds, enabled);
    ValueError saying the settings were refused, and why."""

def guard_request(text: str) -> tuple[bool | None, int | None]:
    """``POST /memwarden/guard``'s body: (enabled or None, reserve in MiB or None);
    ValueError saying nothing changed, and why."""

def leak_tracking_notes(
    *, restarted: bool, hooks_missing: str | None, tracing_started: bool, tracing_stopped: bool
) -> str:
    """The Memory Leak Detector's notes on what it changed in its tracking."""

def manager_switch_note(enabled: bool, was_running: bool, hooks_missing: str | None) -> str:
    """What the manager nodes did to the background manager, in words."""

def cleanup_text(report: dict[str, Any]) -> str:
    """A cleanup's report (the dict of ``CleanupReport.to_dict()``) in words."""

def giveback_action(
    at_unix_ms: int,
    wake: HeadroomWake,
    plan: GivebackPlan,
    after: Headroom,
    steps: Sequence[dict[str, Any]],
    started_ns: int,
    duration_ms: float,
) -> ManagerAction:
    """The guard's history record of a give-back: its reason worded and its outcome
    judged by the core (freed from 1 MiB of headroom gained; failed when a step
    failed), the latency from the estimated crossing to ``started_ns``."""

def releasable_bytes(held: Sequence[tuple[int, bool]], prompt_running: bool) -> int:
    """Bytes of ``held`` ((bytes, in_use) per item) that may be given back now: every
    item between prompts, during a prompt only those it does not use."""

def release_plan(
    held: Sequence[tuple[int, bool]], need: int, prompt_running: bool, drop_outputs: bool
) -> tuple[list[int], int, bool]:
    """What to give back for ``need`` bytes: (the items to release, largest first; the
    bytes they free; whether to drop every cached output too)."""

def comfy_released(models_bytes: int, outputs_dropped: bool) -> str:
    """What ComfyUI gave back, in words."""

def registry_released(names: Sequence[str]) -> str:
    """What a host outside ComfyUI gave back, in words."""

def worker_busy(timeout_s: float) -> str:
    """ComfyUI's prompt worker did not reach a safe point within ``timeout_s``."""

def load_check_line(what: str, prediction: LoadPrediction, reading: Headroom, plan: LoadPlan) -> str:
    """A load the guard checked, as logged: ``what: prediction; headroom reading: decision``."""

def load_not_predicted(what: str, error: str) -> str:
    """A load the guard could not predict (its file unreadable as a model): it goes on."""

def comfy_cache_releases(calls: int, released: int, bytes: int) -> str:
    """What ComfyUI 0.28's own RAM-pressure cache gave back, in words."""

def release_step_name() -> str:
    """How the guard's history names its step of releasing cached models."""

#: How many of the guard's actions it keeps in memory and in its history file.
GUARD_KEEP_ACTIONS: int
#: How many files' measured loads the guard remembers.
GUARD_KEEP_LOADS: int

def guard_start(
    settings_text: str | None, asked: bool = False, reserve_mb: int | None = None
) -> tuple[bool, int | None, bool, str | None]:
    """How the guard starts in ComfyUI, from the settings file's text (None: no
    file), MEMWARDEN_GUARD and MEMWARDEN_COMFY_RAM_FIGURES, whether the settings
    dialog ``asked`` for it and the caller's reserve (MiB, 0: the default): (on,
    reserve in bytes or None for the default, give ComfyUI the RAM figures, why the
    settings file was not read)."""

def guard_off() -> str:
    """The guard was not started in ComfyUI: which switch keeps it off."""

def guard_started(watching: str, loads: str, safe_points: str, settings_problem: str | None = None) -> str:
    """The guard started in ComfyUI, in words."""

def ram_figures_note(state: str) -> str:
    """Whether ComfyUI sees the container's RAM figures, and how to turn that off."""

def make_room_action(
    at_unix_ms: int,
    what: str,
    pred: LoadPrediction,
    before: Headroom,
    after: Headroom,
    step: dict[str, Any],
    duration_ms: float,
) -> ManagerAction:
    """The guard's history record of the room it made before loading ``what``."""

def refusal_action(at_unix_ms: int, refused: str, pred: LoadPrediction, duration_ms: float) -> ManagerAction:
    """The guard's history record of a load it refused."""

def plan_load(what: str, need: int, reading: Headroom, reserve: int, releasable: int) -> LoadPlan:
    """Whether a load predicted at ``need`` bytes may go ahead."""

def predict_load(
    path: str | os.PathLike[str],
    *,
    default: str = "other",
    itemsize: Mapping[str, int] | None = None,
    measured_bytes: int | None = None,
) -> LoadPrediction:
    """What loading the model file at ``path`` will take in RAM."""

def default_reserve(limit: int, explicit: int | None = None) -> int: ...
def headroom_refused(refusal: Refusal, reserve: str = "--reserve") -> HeadroomRefused:
    """A HeadroomRefused exception for ``refusal``, naming the reserve as ``reserve``."""
