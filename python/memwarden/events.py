"""The execution events memwarden's parts listen to: a prompt's start and end, a
node's start and end, a model about to be loaded. A host feeds them
(:mod:`memwarden.comfy.hooks` patches ComfyUI's executor to emit them); the
background manager, the leak detector, the headroom guard and the panel subscribe.

A ``model_load`` event can be vetoed: a subscriber that raises one of
:data:`VETO_ERRORS` (the headroom guard's refusal) stops that load, with the
refusal. Every other exception of a subscriber is logged and never reaches the
host.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace

__all__ = [
    "VETO_ERRORS",
    "EventKind",
    "ExecutionEvent",
    "emit",
    "running_node",
    "running_prompt",
    "subscribe",
]

EventKind = Literal["prompt_start", "prompt_end", "node_start", "node_end", "model_load"]

#: What a subscriber may raise to veto a vetoable event (a model load).
VETO_ERRORS: tuple[type[BaseException], ...] = (_native.HeadroomRefused,)

_log = logging.getLogger("memwarden.events")


@dataclass(frozen=True)
class ExecutionEvent:
    kind: EventKind
    prompt_id: str
    time: float  # time.monotonic() when it happened
    node_id: str | None = None  # node events only
    node_type: str | None = None  # node events only: the node's class_type
    success: bool | None = None  # prompt_end / node_end: False on error or interrupt
    path: str | None = None  # model_load: the file about to be loaded


_lock = threading.Lock()
_subscribers: list[Callable[[ExecutionEvent], None]] = []


class _Now:
    """What runs now, as the events told (the host's worker sets it)."""

    running: str | None = None
    #: The node started last and not ended yet: (node_id, node_type).
    node: tuple[str, str] | None = None


now = _Now()


def subscribe(callback: Callable[[ExecutionEvent], None]) -> Callable[[], None]:
    """Register a callback; returns a function that unsubscribes it.

    Callbacks run synchronously on ComfyUI's executor thread: they must be quick.
    An exception in a callback is caught and logged, never reaches ComfyUI."""
    with _lock:
        _subscribers.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _subscribers:
                _subscribers.remove(callback)

    return unsubscribe


def emit(event: ExecutionEvent, veto: bool = False) -> None:
    """Deliver an event to every subscriber (the patch calls this; tests may too).
    With ``veto``, a subscriber's :data:`VETO_ERRORS` exception is raised to the
    caller (after the other subscribers had the event); any other exception is
    logged and dropped."""
    with _lock:
        targets = list(_subscribers)
    vetoed: BaseException | None = None
    for callback in targets:
        try:
            callback(event)
        except VETO_ERRORS as e:
            if veto:
                vetoed = vetoed or e
            else:
                _log.error("memwarden: %r refused an event that cannot be refused: %s", callback, e)
        except Exception:  # noqa: BLE001 - a subscriber's bug must never reach ComfyUI
            _log.exception("memwarden: execution-event subscriber %r failed", callback)
    if vetoed is not None:
        raise vetoed


def running_prompt() -> str | None:
    """The prompt id being executed right now, else None (between prompts)."""
    return now.running


def running_node() -> tuple[str, str] | None:
    """(node_id, class_type) of the node running now, else None."""
    return now.node
