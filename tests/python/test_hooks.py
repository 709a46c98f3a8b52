"""memwarden.comfy.hooks against a fake `execution` module shaped like ComfyUI's."""

from __future__ import annotations

import asyncio
import enum
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from memwarden.comfy import hooks as hooks_module


class ExecutionResult(enum.Enum):
    SUCCESS = 0
    FAILURE = 1
    PENDING = 2


class _Outputs:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, node_id: str) -> object:
        return self.values.get(node_id)


class _Caches:
    def __init__(self) -> None:
        self.outputs = _Outputs()


class _DynPrompt:
    def __init__(self, prompt: dict[str, Any]) -> None:
        self.prompt = prompt

    def get_node(self, node_id: str) -> dict[str, Any]:
        return dict(self.prompt[node_id])


class _FakePromptExecutor:
    """ComfyUI's PromptExecutor shape: `execute` runs `execute_async` in asyncio.run,
    which looks the module-level node `execute` up at call time."""

    module: Any = None
    behaviour: dict[str, str] = {}  # noqa: RUF012 - set per fake module

    def __init__(self) -> None:
        self.caches = _Caches()
        self.success = True
        for node_id, what in self.behaviour.items():
            if what == "cached":
                self.caches.outputs.values[node_id] = ("cached",)

    def execute(
        self,
        prompt: dict[str, Any],
        prompt_id: str,
        extra_data: Any = None,
        execute_outputs: Any = None,
    ) -> None:
        asyncio.run(self.execute_async(prompt, prompt_id, extra_data or {}, []))

    async def execute_async(
        self,
        prompt: dict[str, Any],
        prompt_id: str,
        extra_data: Any = None,
        execute_outputs: Any = None,
    ) -> None:
        dyn = _DynPrompt(prompt)
        executed: set[str] = set()
        queue = list(prompt)
        while queue:
            node_id = queue.pop(0)
            result, _, _ = await self.module.execute(
                None, dyn, self.caches, node_id, {}, executed, prompt_id, None, {}, {}
            )
            self.success = result != ExecutionResult.FAILURE
            if result == ExecutionResult.FAILURE:
                break
            if result == ExecutionResult.PENDING:
                queue.append(node_id)


def _fake_execution(behaviour: dict[str, str]) -> types.ModuleType:
    """A module with ComfyUI's shapes: async `execute` per node and PromptExecutor.
    `behaviour` maps node ids to 'ok', 'fail', 'raise', 'pending-once' or 'cached'."""
    mod = types.ModuleType("execution")
    pending_seen: set[str] = set()

    async def execute(  # noqa: PLR0913, PLR0917 - ComfyUI's signature
        server: Any,
        dynprompt: Any,
        caches: Any,
        current_item: str,
        extra_data: Any,
        executed: Any,
        prompt_id: str,
        execution_list: Any,
        pending_subgraph_results: Any,
        pending_async_nodes: Any,
    ) -> tuple[ExecutionResult, Any, Any]:
        what = behaviour[current_item]
        if what == "raise":
            raise RuntimeError("node crashed")
        if what == "fail":
            return (ExecutionResult.FAILURE, {"node_id": current_item}, None)
        if what == "pending-once" and current_item not in pending_seen:
            pending_seen.add(current_item)
            return (ExecutionResult.PENDING, None, None)
        executed.add(current_item)
        return (ExecutionResult.SUCCESS, None, None)

    executor = type("PromptExecutor", (_FakePromptExecutor,), {"module": mod, "behaviour": behaviour})
    mod.execute = execute  # type: ignore[attr-defined]
    mod.PromptExecutor = executor  # type: ignore[attr-defined]
    return mod


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """A fresh (uninstalled) hooks module; sys.modules['execution'] restored after."""
    monkeypatch.delitem(sys.modules, "execution", raising=False)
    yield importlib.reload(hooks_module)
    importlib.reload(hooks_module)


def _prompt(*node_ids: str) -> dict[str, Any]:
    return {n: {"class_type": f"Type{n}", "inputs": {}} for n in node_ids}


def _record(hooks: types.ModuleType) -> list[Any]:
    events: list[Any] = []
    hooks.subscribe(events.append)
    return events


def _short(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.kind, e.node_id, e.node_type, e.success) for e in events]


def test_outside_comfyui_install_refuses_with_reason(hooks: types.ModuleType) -> None:
    assert hooks.install() is False
    assert "not running inside ComfyUI" in hooks.install_reason()


def test_unknown_shape_patches_nothing(hooks: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _fake_execution({"1": "ok"})

    async def execute(node: Any) -> None:  # a different signature
        return None

    mod.execute = execute  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "execution", mod)
    assert hooks.install() is False
    assert "unknown execution.execute signature" in hooks.install_reason()
    assert mod.execute is execute  # type: ignore[attr-defined]


def test_prompt_and_node_events_in_order(hooks: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _fake_execution({"1": "ok", "2": "cached", "3": "pending-once", "4": "ok"})
    monkeypatch.setitem(sys.modules, "execution", mod)
    assert hooks.install() is True, hooks.install_reason()
    assert hooks.install() is True  # idempotent: not wrapped twice
    events = _record(hooks)
    seen_running: list[str | None] = []
    hooks.subscribe(lambda e: seen_running.append(hooks.running_prompt()))

    mod.PromptExecutor().execute(_prompt("1", "2", "3", "4"), "p-1")  # type: ignore[attr-defined]

    assert _short(events) == [
        ("prompt_start", None, None, None),
        ("node_start", "1", "Type1", None),
        ("node_end", "1", "Type1", True),
        ("node_start", "3", "Type3", None),  # PENDING: stays open
        ("node_start", "4", "Type4", None),
        ("node_end", "4", "Type4", True),
        ("node_end", "3", "Type3", True),  # finished by the resumed call
        ("prompt_end", None, None, True),
    ]
    assert {e.prompt_id for e in events} == {"p-1"}
    times = [e.time for e in events]
    assert times == sorted(times)
    assert seen_running[0] == "p-1" and seen_running[-1] is None
    assert hooks.running_prompt() is None


def test_failure_and_exception_are_reported(hooks: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _fake_execution({"1": "fail", "2": "raise"})
    monkeypatch.setitem(sys.modules, "execution", mod)
    assert hooks.install() is True
    events = _record(hooks)
    mod.PromptExecutor().execute(_prompt("1"), "p-fail")  # type: ignore[attr-defined]
    assert _short(events)[-2:] == [("node_end", "1", "Type1", False), ("prompt_end", None, None, False)]

    events.clear()
    with pytest.raises(RuntimeError, match="node crashed"):
        mod.PromptExecutor().execute(_prompt("2"), "p-raise")  # type: ignore[attr-defined]
    assert _short(events) == [
        ("prompt_start", None, None, None),
        ("node_start", "2", "Type2", None),
        ("node_end", "2", "Type2", False),
        ("prompt_end", None, None, False),
    ]


def test_subscriber_errors_never_reach_the_executor(
    hooks: types.ModuleType, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mod = _fake_execution({"1": "ok"})
    monkeypatch.setitem(sys.modules, "execution", mod)
    assert hooks.install() is True

    def broken(event: Any) -> None:
        raise ValueError("subscriber bug")

    hooks.subscribe(broken)
    events = _record(hooks)
    mod.PromptExecutor().execute(_prompt("1"), "p-2")  # type: ignore[attr-defined]
    assert len(events) == 4
    assert "subscriber" in caplog.text and "subscriber bug" in caplog.text


def test_unsubscribe(hooks: types.ModuleType) -> None:
    events: list[Any] = []
    stop = hooks.subscribe(events.append)
    hooks.emit(hooks.ExecutionEvent("prompt_start", "x", 1.0))
    stop()
    stop()  # twice is harmless
    hooks.emit(hooks.ExecutionEvent("prompt_end", "x", 2.0, success=True))
    assert [e.kind for e in events] == ["prompt_start"]


def test_sync_executor_of_older_comfyui(hooks: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Older ComfyUI: synchronous node `execute` and no `execute_async`."""
    mod = types.ModuleType("execution")

    def execute(  # noqa: PLR0913, PLR0917 - ComfyUI's signature
        server: Any,
        dynprompt: Any,
        caches: Any,
        current_item: str,
        extra_data: Any,
        executed: Any,
        prompt_id: str,
        execution_list: Any,
    ) -> tuple[Any, Any, Any]:
        return (ExecutionResult.SUCCESS, None, None)

    class PromptExecutor:
        caches = _Caches()
        success = True

        def execute(self, prompt: dict[str, Any], prompt_id: str, extra_data: Any = None) -> None:
            for node_id in prompt:
                mod.execute(None, _DynPrompt(prompt), self.caches, node_id, {}, set(), prompt_id, None)  # type: ignore[attr-defined]

    mod.execute = execute  # type: ignore[attr-defined]
    mod.PromptExecutor = PromptExecutor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "execution", mod)
    assert hooks.install() is True
    assert "PromptExecutor.execute " in hooks.install_reason()
    events = _record(hooks)
    PromptExecutor().execute(_prompt("7"), prompt_id="p-old")
    assert _short(events) == [
        ("prompt_start", None, None, None),
        ("node_start", "7", "Type7", None),
        ("node_end", "7", "Type7", True),
        ("prompt_end", None, None, True),
    ]
