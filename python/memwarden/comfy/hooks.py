"""ComfyUI's prompt and node boundaries as memwarden's execution events
(:mod:`memwarden.events`), and what memwarden needs to know of ComfyUI's executor.

`install()` patches ComfyUI's executor once per process (both generations in use:
0.3.6x, whose cache lookup is synchronous, and 0.28, whose lookup is async and
which has a side-effect-free ``get_local``):

- `execution.PromptExecutor.execute_async` (or `execute` on ComfyUIs without the
  async executor) is wrapped: `prompt_start` before, `prompt_end` after it returns
  or raises (before the prompt worker's own gc / soft_empty_cache);
- the module-level `execution.execute` (one node) is wrapped: `node_start` before,
  `node_end` after. A node served from the output cache runs no code and gets no
  event; a node that returns PENDING (async node) stays open until the call that
  finishes it, so one execution is one start/end pair.

Anything of another shape is left alone: `install()` returns False and
`install_reason()` says why.

The executor's prompt gate (:func:`between_prompts`) tells other threads when no
prompt runs. The event bus itself (subscribe, emit, the vetoable ``model_load``
event :mod:`memwarden.comfy.host` emits before ComfyUI loads a model file) is
:mod:`memwarden.events`, re-exported here.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ..events import (
    VETO_ERRORS,
    EventKind,
    ExecutionEvent,
    emit,
    now,
    running_node,
    running_prompt,
    subscribe,
)

__all__ = [
    "VETO_ERRORS",
    "EventKind",
    "ExecutionEvent",
    "between_prompts",
    "current_executor",
    "emit",
    "install",
    "install_reason",
    "on_worker_thread",
    "running_node",
    "running_prompt",
    "subscribe",
]

_log = logging.getLogger("memwarden.hooks")

_NODE_PARAMS = ("dynprompt", "caches", "current_item", "prompt_id")
_PROMPT_PARAMS = ("prompt", "prompt_id")


_lock = threading.Lock()
#: Held by ComfyUI's prompt worker for the whole of each prompt: whoever holds it
#: knows no prompt runs, so ComfyUI's executor touches none of its caches.
_gate = threading.Lock()


class _State:
    installed = False
    reason = "not installed yet: call install()"
    open_nodes: set[str] = set()  # noqa: RUF012 - one per process, reset per prompt
    executor: weakref.ReferenceType[Any] | None = None
    #: The thread that runs prompts (ComfyUI's prompt worker).
    worker: int | None = None
    #: The prompt worker holds the gate (between a prompt's start and end).
    gated = False


_state = _State()


@contextlib.contextmanager
def between_prompts() -> Iterator[bool]:
    """True (and no prompt starts until the block ends) when no prompt runs now;
    False at once when one does. Keep the block short: a prompt waits for it."""
    got = _gate.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            _gate.release()


def on_worker_thread() -> bool:
    """True on the thread that runs ComfyUI's prompts."""
    return _state.worker is not None and _state.worker == threading.get_ident()


def current_executor() -> Any | None:
    """ComfyUI's PromptExecutor (the one that ran the last prompt), else None."""
    ref = _state.executor
    return ref() if ref is not None else None


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


def _prompt_begin(prompt_id: str, executor: Any) -> None:
    _gate.acquire()
    _state.gated = True
    now.running = prompt_id
    _state.open_nodes.clear()
    now.node = None
    _state.worker = threading.get_ident()
    try:
        _state.executor = weakref.ref(executor)
    except TypeError:
        _state.executor = None
    emit(ExecutionEvent("prompt_start", prompt_id, time.monotonic()))


def _prompt_finish(prompt_id: str, success: bool) -> None:
    now.running = None
    _state.open_nodes.clear()
    now.node = None
    if _state.gated:
        _state.gated = False
        _gate.release()
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
            ok = False
            try:
                _prompt_begin(prompt_id, args[0] if args else None)
                result = await original(*args, **kwargs)
                ok = bool(getattr(args[0], "success", True))
                return result
            finally:
                _prompt_finish(prompt_id, ok)

        return prompt_async

    @functools.wraps(original)
    def prompt_sync(*args: Any, **kwargs: Any) -> Any:
        prompt_id = prompt_id_of(args, kwargs)
        ok = False
        try:
            _prompt_begin(prompt_id, args[0] if args else None)
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
        outputs = bound["caches"].outputs
        # 0.28's lookup is async (and has side effects: LRU marks, timestamps); its
        # get_local is the synchronous, side-effect-free one. 0.3.6x's get is sync.
        get_local = getattr(outputs, "get_local", None)
        cached = get_local(node_id) if callable(get_local) else outputs.get(node_id)
        if inspect.isawaitable(cached):  # an async lookup we cannot make: not ours to await
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
    now.node = (call.node_id, call.node_type)
    emit(ExecutionEvent("node_start", call.prompt_id, time.monotonic(), call.node_id, call.node_type))


def _node_finish(call: _NodeCall, result: Any, raised: bool) -> None:
    status = getattr(result[0], "name", "") if isinstance(result, tuple) and result else ""
    if not raised and status == "PENDING":
        return  # finished by a later call
    _state.open_nodes.discard(call.node_id)
    now.node = None
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
