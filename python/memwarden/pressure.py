"""``check_memory_pressure()``: the level in words and what to do about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Union

from . import _native
from ._native import Snapshot

#: What :func:`check_memory_pressure` accepts: a snapshot, or its ``to_dict()``.
SnapshotLike = Union[Snapshot, Mapping[str, Any]]


@dataclass
class PressureReport:
    """Pressure level (none/low/moderate/high/critical) with the figures behind it."""

    level: str
    description: str
    ram_percent: float
    vram_percent: float | None
    swap_percent: float | None
    source: str
    recommendations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_snapshot(snap: SnapshotLike | None) -> Snapshot:
    if snap is None:
        return _native.snapshot(top=0)
    if isinstance(snap, Snapshot):
        return snap
    if isinstance(snap, Mapping):
        return Snapshot.from_dict(dict(snap))
    raise _native.invalid_input(
        f"snap must be a memwarden snapshot (memwarden.snapshot()) or None, got {type(snap).__name__}"
    )


def check_memory_pressure(snap: SnapshotLike | None = None) -> PressureReport:
    """Assess memory pressure from a snapshot (taken now when not given).

    ``snap``: a :func:`memwarden.snapshot` (or its ``to_dict()``); anything else
    raises InvalidInput."""
    s = _as_snapshot(snap)
    eff, sysm = s.effective, s.system
    # VRAM percent as the core defines it (the fullest GPU), not recomputed here.
    vram = s.status().vram_percent
    swap = 100.0 * sysm.swap_used_bytes / sysm.swap_total_bytes if sysm.swap_total_bytes else None
    return PressureReport(
        level=s.pressure.level,
        description=s.pressure.description,
        ram_percent=eff.percent_used,
        vram_percent=vram,
        swap_percent=swap,
        source=eff.source,
        recommendations=_advice(s, vram, swap),
    )


def _advice(s: Snapshot, vram: float | None, swap: float | None) -> list[str]:
    """What to do, from the pressure level and the RAM, VRAM and swap figures."""
    ram = s.effective.percent_used
    recs: list[str] = []
    if s.pressure.level in ("high", "critical"):
        recs.append("Memory is stalling tasks now: unload unused models (Memory Cleanup, mode aggressive).")
    if ram >= 90:
        recs.append("RAM above 90%: run a cleanup between heavy nodes, or lower batch size / resolution.")
    elif ram >= 80:
        recs.append("RAM above 80%: consider a balanced cleanup after model loads and VAE decode.")
    if vram is not None and vram >= 90:
        recs.append("VRAM above 90%: unload models (VRAM Unload) or use --lowvram / tiled VAE decode.")
    if s.system.swap_total_bytes == 0:
        recs.append("No swap configured: memwarden cannot page idle memory out; add a swap file or zram.")
    elif swap is not None and swap >= 80:
        recs.append("Swap above 80%: paging more out will thrash; free memory instead.")
    if s.effective.source == "cgroup":
        recs.append(f"Running under a container limit: {s.effective.reason}")
    if not recs:
        recs.append("No action needed.")
    return recs
