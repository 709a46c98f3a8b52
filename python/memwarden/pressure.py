"""``check_memory_pressure()``: the level in words and what to do about it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _native

#: What the assessment reads from a snapshot.
_SNAPSHOT_KEYS = ("effective", "system", "pressure", "gpu")


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
        return dict(self.__dict__)


def check_memory_pressure(snap: Any = None) -> PressureReport:
    """Assess memory pressure from a snapshot (taken now when not given).

    ``snap``: a :func:`memwarden.snapshot` (or its dict); anything else raises
    InvalidInput."""
    if snap is None:
        from . import snapshot

        snap = snapshot(top=0)
    elif not isinstance(snap, Mapping) or not all(k in snap for k in _SNAPSHOT_KEYS):
        raise _native.invalid_input(
            f"snap must be a memwarden snapshot (memwarden.snapshot()) or None, got {type(snap).__name__}"
        )
    eff, sysm, pres = snap["effective"], snap["system"], snap["pressure"]
    ram = float(eff["percent_used"])
    # VRAM percent as the core defines it (the fullest GPU), not recomputed here.
    # A memwarden.Snapshot carries the core's JSON; a plain dict is encoded once.
    text = getattr(snap, "json", None)
    vram = json.loads(_native.status_of(text if isinstance(text, str) else json.dumps(dict(snap))))["vram_percent"]
    swap = 100.0 * sysm["swap_used_bytes"] / sysm["swap_total_bytes"] if sysm["swap_total_bytes"] else None
    recs: list[str] = []
    level = pres["level"]
    if level in ("high", "critical"):
        recs.append("Memory is stalling tasks now: unload unused models (Memory Cleanup, mode aggressive).")
    if ram >= 90:
        recs.append("RAM above 90%: run a cleanup between heavy nodes, or lower batch size / resolution.")
    elif ram >= 80:
        recs.append("RAM above 80%: consider a balanced cleanup after model loads and VAE decode.")
    if vram is not None and vram >= 90:
        recs.append("VRAM above 90%: unload models (VRAM Unload) or use --lowvram / tiled VAE decode.")
    if sysm["swap_total_bytes"] == 0:
        recs.append("No swap configured: memwarden cannot page idle memory out; add a swap file or zram.")
    elif swap is not None and swap >= 80:
        recs.append("Swap above 80%: paging more out will thrash; free memory instead.")
    if eff["source"] == "cgroup":
        recs.append(f"Running under a container limit: {eff['reason']}")
    if not recs:
        recs.append("No action needed.")
    return PressureReport(
        level=level,
        description=pres["description"],
        ram_percent=ram,
        vram_percent=vram,
        swap_percent=swap,
        source=eff["source"],
        recommendations=recs,
    )
