"""ComfyUI execution events (prompt and node boundaries), delivered to subscribers.

`install()` patches ComfyUI's executor once per process:

- `execution.PromptExecutor.execute_async` (or `execute` on ComfyUIs without the
  async executor) is wrapped: `prompt_start` before, `prompt_end` after it returns
  or raises (before the prompt worker's own gc / soft_empty_cache);
- the module-level `execution.execute` (one node) is wrapped: `node_start` before,
  `node_end` after. A node served from the output cache runs no code and gets no
  event; a node that returns PENDING (async node) stays open until the call that
  finishes it, so one execution is one start/end pair.

Anything of another shape is left alone: `install()` returns False and
`install_reason()` says why.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "EventKind",
    "ExecutionEvent",
    "emit",
    "install",
    "install_reason",
    "running_prompt",
    "subscribe",
]

EventKind = Literal["prompt_start", "prompt_end", "node_start", "node_end"]

_log = logging.getLogger("memwarden.hooks")

_NODE_PARAMS = ("dynprompt", "caches", "current_item", "prompt_id")
_PROMPT_PARAMS = ("prompt", "prompt_id")


@dataclass(frozen=True)
class ExecutionEvent:
    kind: EventKind
    prompt_id: str
    time: float  # time.monotonic() when it happened
    node_id: str | None = None  # node events only
    node_type: str | None = None  # node events only: the node's class_type
    success: bool | None = None  # prompt_end / node_end: False on error or interrupt


_lock = threading.Lock()
_subscribers: list[Callable[[ExecutionEvent], None]] = []


class _State:
    installed = False
    reason = "not installed yet: call install()"
    running: str | None = None
    open_nodes: set[str] = set()  # noqa: RUF012 - one per process, reset per prompt


_state = _State()


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


def emit(event: ExecutionEvent) -> None:
    """Deliver an event to every subscriber (the patch calls this; tests may too)."""
    with _lock:
        targets = list(_subscribers)
    for callback in targets:
        try:
            callback(event)
        except Exception:  # noqa: BLE001 - a subscriber's bug must never reach ComfyUI
            _log.exception("memwarden: execution-event subscriber %r failed", callback)


def running_prompt() -> str | None:
    """The prompt id being executed right now, else None (between prompts)."""
    return _state.running


def install_reason() -> str:
    """Why the last `install()` did or did not patch ComfyUI."""
    return _state.reason


def install() -> bool:
    """Patch ComfyUI's executor once (idempotent, thread-safe).

    False (and nothing patched) outside ComfyUI or when this ComfyUI's executor has a
    shape we do not know; the reason is available from `install_reason()`."""
    with _lock:
        if _state.installed:
            return True
        module: Any = sys.modules.get("execution")
        problem = _check_shape(module)
        if problem is not None:
            _state.reason = problem
            return False
        assert module is not None
        executor = module.PromptExecutor
        prompt_attr = "execute_async" if hasattr(executor, "execute_async") else "execute"
        setattr(executor, prompt_attr, _wrap_prompt(getattr(executor, prompt_attr)))
        module.execute = _wrap_node(module.execute)
        _state.installed = True
        _state.reason = f"installed: execution.PromptExecutor.{prompt_attr} and execution.execute"
        return True


def _params(func: object) -> list[str] | None:
    try:
        return list(inspect.signature(func).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _check_shape(module: Any) -> str | None:
    """None when `module` is an executor we know how to patch, else why not."""
    if module is None:
        return "not running inside ComfyUI: its 'execution' module is not loaded"
    executor = getattr(module, "PromptExecutor", None)
    node_exec = getattr(module, "execute", None)
    if not inspect.isclass(executor) or not callable(node_exec):
        return "ComfyUI's 'execution' module has no PromptExecutor class or execute function"
    prompt_func = getattr(executor, "execute_async", None) or getattr(executor, "execute", None)
    prompt_params = _params(prompt_func)
    if prompt_params is None or any(p not in prompt_params for p in _PROMPT_PARAMS):
        return f"unknown PromptExecutor signature {prompt_params!r}: expected {_PROMPT_PARAMS}"
    node_params = _params(node_exec)
    if node_params is None or any(p not in node_params for p in _NODE_PARAMS):
        return f"unknown execution.execute signature {node_params!r}: expected {_NODE_PARAMS}"
    return None


def _prompt_begin(prompt_id: str) -> None:
    _state.running = prompt_id
    _state.open_nodes.clear()
    emit(ExecutionEvent("prompt_start", prompt_id, time.monotonic()))


def _prompt_finish(prompt_id: str, success: bool) -> None:
    _state.running = None
    _state.open_nodes.clear()
    emit(ExecutionEvent("prompt_end", prompt_id, time.monotonic(), success=success))


def _wrap_prompt(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def prompt_id_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        bound = signature.bind_partial(*args, **kwargs)
        return str(bound.arguments.get("prompt_id", ""))

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def prompt_async(*args: Any, **kwargs: Any) -> Any:
            prompt_id = prompt_id_of(args, kwargs)
            _prompt_begin(prompt_id)
            ok = False
            try:
                result = await original(*args, **kwargs)
                ok = bool(getattr(args[0], "success", True))
                return result
            finally:
                _prompt_finish(prompt_id, ok)

        return prompt_async

    @functools.wraps(original)
    def prompt_sync(*args: Any, **kwargs: Any) -> Any:
        prompt_id = prompt_id_of(args, kwargs)
        _prompt_begin(prompt_id)
        ok = False
        try:
            result = original(*args, **kwargs)
            ok = bool(getattr(args[0], "success", True))
            return result
        finally:
            _prompt_finish(prompt_id, ok)

    return prompt_sync


class _NodeCall:
    """What one call of ComfyUI's node `execute` is about (or None when cached)."""

    __slots__ = ("node_id", "node_type", "prompt_id")

    def __init__(self, node_id: str, node_type: str, prompt_id: str) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.prompt_id = prompt_id


def _node_call(signature: inspect.Signature, args: Any, kwargs: Any) -> _NodeCall | None:
    try:
        bound = signature.bind_partial(*args, **kwargs).arguments
        node_id = bound["current_item"]
        cached = bound["caches"].outputs.get(node_id)
        if inspect.isawaitable(cached):  # a ComfyUI whose cache lookup is async: not ours to await
            getattr(cached, "close", lambda: None)()
        elif cached is not None:
            return None  # served from the cache: no code runs
        node_type = bound["dynprompt"].get_node(node_id)["class_type"]
        return _NodeCall(str(node_id), str(node_type), str(bound["prompt_id"]))
    except Exception:  # noqa: BLE001 - unknown shape at run time: no event, ComfyUI unaffected
        _log.debug("memwarden: could not read a node call", exc_info=True)
        return None


def _node_begin(call: _NodeCall) -> None:
    if call.node_id in _state.open_nodes:
        return  # a PENDING node being resumed: its start was already sent
    _state.open_nodes.add(call.node_id)
    emit(ExecutionEvent("node_start", call.prompt_id, time.monotonic(), call.node_id, call.node_type))


def _node_finish(call: _NodeCall, result: Any, raised: bool) -> None:
    status = getattr(result[0], "name", "") if isinstance(result, tuple) and result else ""
    if not raised and status == "PENDING":
        return  # finished by a later call
    _state.open_nodes.discard(call.node_id)
    ok = not raised and status != "FAILURE"
    emit(ExecutionEvent("node_end", call.prompt_id, time.monotonic(), call.node_id, call.node_type, ok))


def _wrap_node(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def node_async(*args: Any, **kwargs: Any) -> Any:
            call = _node_call(signature, args, kwargs)
            if call is None:
                return await original(*args, **kwargs)
            _node_begin(call)
            result: Any = None
            raised = True
            try:
                result = await original(*args, **kwargs)
                raised = False
                return result
            finally:
                _node_finish(call, result, raised)

        return node_async

    @functools.wraps(original)
    def node_sync(*args: Any, **kwargs: Any) -> Any:
        call = _node_call(signature, args, kwargs)
        if call is None:
            return original(*args, **kwargs)
        _node_begin(call)
        result: Any = None
        raised = True
        try:
            result = original(*args, **kwargs)
            raised = False
            return result
        finally:
            _node_finish(call, result, raised)

    return node_sync
