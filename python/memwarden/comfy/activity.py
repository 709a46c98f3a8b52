"""What memwarden did, for the panel's feed and the metrics route.

One place joins the pack's records of activity: the background manager's history
(:mod:`memwarden.manager`), the cleanups run from the panel
(:mod:`memwarden.comfy.routes`), the headroom guard (:mod:`memwarden.guard`) and
the leak detector (:mod:`memwarden.leak`). It gives them to the panel as its
``cleanups``, ``guard`` and ``leak`` sections and to
``/memwarden/metrics`` as the activity series (cleanups by action and trigger, bytes
reclaimed, the leak slope). Nothing here decides anything: the leak verdict is the
core's (``assess_leak``), the figures are the records' own.

:func:`register` is called once when the node pack loads, after the panel's and the
metrics route's own registration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _native, guard, leak, manager
from . import metrics_route, routes

#: How many cleanups the panel lists.
SHOWN = 10


def _manager_actions() -> list[Any]:
    """The manager's actions that ran a cleanup (failures left out): the
    running manager's, else none (the history file belongs to `memwarden history`)."""
    if manager.current() is None:
        return []
    return [a for a in manager.history() if a.outcome != "failed" and a.steps]


def _manager_item(a: Any) -> dict[str, Any]:
    return {
        "at_unix_ms": a.at_unix_ms,
        "mode": f"{a.mode} (manager, {a.trigger})",
        "process_freed_bytes": a.freed_bytes,
        "vram_freed_bytes": 0,
        "duration_s": a.duration_ms / 1000.0,
    }


def cleanups_section(panel_items: Callable[[], list[dict[str, Any]]]) -> dict[str, Any]:
    """The panel's ``cleanups`` section: the panel's own cleanups and the manager's,
    newest first."""
    items = list(panel_items()) + [_manager_item(a) for a in _manager_actions()]
    items.sort(key=lambda i: i["at_unix_ms"], reverse=True)
    running = manager.running()
    source = "cleanups run from this panel" + (" and by the memwarden manager" if running else "")
    return {"source": source + " since ComfyUI started", "items": items[:SHOWN]}


def leak_section() -> dict[str, Any] | None:
    """The leak detector's verdict on this process's resident memory so far, or None
    (the panel shows "not running") when no Memory Leak Detector has attached."""
    det = leak.current_detector()
    if det is None or not det.attached:
        return None
    prompts, v = det.rss_verdict()
    text = _native.leak_feed_text(prompts, v)
    if v is None:
        return {"text": text, "leak": False, "prompts": 0}
    return {"text": text, "leak": v.leak, "prompts": prompts, "slope_mb_per_prompt": v.slope_bytes_per_prompt / leak.MB}


def guard_section() -> dict[str, Any] | None:
    """The headroom guard now: the limit that binds, the reserve, what it gave back
    and refused; None (the panel shows "not running") when it is off."""
    g = guard.current()
    if g is None:
        return None
    st = g.status()
    return {
        "text": st.text,
        "headroom_bytes": st.reading.headroom_bytes if st.reading else None,
        "limit_bytes": st.reading.limit_bytes if st.reading else None,
        "reserve_bytes": st.reserve_bytes,
        "givebacks": st.givebacks,
        "refusals": st.refusals,
    }


def _count_cleanups(rows: dict[tuple[str, str], list[int]], action: str, trigger: str, freed: int) -> None:
    row = rows.setdefault((action, trigger), [0, 0])
    row[0] += 1
    row[1] += max(freed, 0)


def metrics_activity(panel_items: Callable[[], list[dict[str, Any]]]) -> dict[str, Any]:
    """The activity dict of ``metrics_text``: cleanups by action (the mode) and
    trigger (the manager's trigger, or ``panel``), their bytes reclaimed (what each
    measured as freed, never negative), and the leak slope when the detector has one."""
    rows: dict[tuple[str, str], list[int]] = {}
    for a in _manager_actions():
        _count_cleanups(rows, a.mode, a.trigger, a.freed_bytes)
    for i in panel_items():
        _count_cleanups(rows, str(i["mode"]), "panel", int(i["process_freed_bytes"]) + int(i["vram_freed_bytes"]))
    g = guard.current()
    if g is not None:
        for a in g.actions():
            _count_cleanups(rows, a.mode, a.trigger, a.freed_bytes)
    cleanups = [
        {"action": action, "trigger": trigger, "count": n, "reclaimed_bytes": freed}
        for (action, trigger), (n, freed) in sorted(rows.items())
    ]
    out: dict[str, Any] = {"cleanups": cleanups, "leak_slope_bytes_per_prompt": None}
    verdict = leak_section()
    if verdict and verdict.get("prompts"):
        out["leak_slope_bytes_per_prompt"] = verdict["slope_mb_per_prompt"] * leak.MB
    return out


def register() -> bool:
    """Feed the panel's sections and the metrics route from the records above. False
    outside ComfyUI (no panel registered)."""
    panel = routes.current_panel()
    if panel is None:
        return False

    def panel_items() -> list[dict[str, Any]]:
        return list(panel.cleanups.section()["items"])

    routes.register_feed_provider("cleanups", lambda: cleanups_section(panel_items))
    routes.register_feed_provider("leak", leak_section)
    routes.register_feed_provider("guard", guard_section)
    metrics_route.set_activity_provider(lambda: metrics_activity(panel_items))
    return True
