"""The automatic optimization. The core decides when to act (thresholds on RAM and
on the fullest GPU, hysteresis, cooldown, history: :class:`memwarden.Optimizer`);
this module runs the cleanup it asks for and records what it freed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace

from ._native import Decision, Optimizer, Snapshot
from .cleanup import CleanupReport, cleanup

_shared = Optimizer()


def shared_optimizer() -> Optimizer:
    """The optimizer of this process.

    One per process on purpose: ComfyUI makes new node objects whenever it resets
    its caches (``POST /free``, or an Aggressive optimization, which asks for exactly
    that), and a cooldown kept on a node would be forgotten right after the
    optimization it is meant to space out."""
    return _shared


def use_optimizer(optimizer: Optimizer) -> Optimizer:
    """Make ``optimizer`` the shared one (a clean slate, or one with its own clock)
    and return the one it replaces."""
    global _shared
    if not isinstance(optimizer, Optimizer):
        raise _native.invalid_input(f"optimizer must be a memwarden.Optimizer, got {optimizer!r}")
    previous, _shared = _shared, optimizer
    return previous


#: The core's default trigger (``policy::trigger``'s ``TriggerConfig::default()``):
#: the fields below take it, never a copy.
_CORE: dict[str, Any] = _native.default_trigger_config()


@dataclass(frozen=True)
class Trigger:
    """When :func:`optimize` cleans up (checked by the core, InvalidInput otherwise):
    on every run (``every_run``), when RAM or the fullest GPU reaches its threshold
    (``on_threshold``), or else on every run as a manual trigger; never within
    ``cooldown_s`` of the last optimization; with a ``hysteresis``, a threshold
    triggers again only once usage has fallen that many points below it."""

    mode: str = _CORE["mode"]
    enabled: bool = _CORE["enabled"]
    every_run: bool = _CORE["every_run"]
    on_threshold: bool = _CORE["on_threshold"]
    ram_threshold: float = _CORE["ram_threshold"]
    vram_threshold: float = _CORE["vram_threshold"]
    cooldown_s: float = _CORE["cooldown_s"]
    hysteresis: float = _CORE["hysteresis"]


@dataclass(frozen=True)
class Optimization:
    """What :func:`optimize` decided and, when it acted, the cleanup's report."""

    decision: Decision
    report: CleanupReport | None


def optimize(snapshot: Snapshot, trigger: Trigger, optimizer: Optimizer | None = None) -> Optimization:
    """Decide from ``snapshot`` whether to clean up now and, if so, run
    ``cleanup(trigger.mode)`` and record what it freed, in ``optimizer`` (default:
    the process's, :func:`shared_optimizer`)."""
    opt = optimizer if optimizer is not None else _shared
    decision = opt.decide(snapshot, **asdict(trigger))
    if not decision.act:
        return Optimization(decision, None)
    report = cleanup(trigger.mode)
    opt.record(decision, report.process_freed_bytes + report.vram_freed_bytes)
    return Optimization(decision, report)
