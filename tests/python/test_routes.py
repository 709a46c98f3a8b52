"""The panel's routes (memwarden.comfy.routes) served by a real aiohttp server on
loopback, with real snapshots and real cleanups. ComfyUI's PromptServer is replaced
by the few parts the routes use (its route table, its websocket dict, send_sync, its
prompt queue); the real one is exercised by tests/e2e/panel_e2e.mjs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("aiohttp", reason="the route tests need aiohttp (ComfyUI's web server): pip install aiohttp")
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from memwarden import guard
from memwarden.comfy import routes


class Queue:
    def __init__(self) -> None:
        self.running: list[Any] = []

    def get_current_queue_volatile(self) -> tuple[list[Any], list[Any]]:
        return self.running, []


class Server:
    """The parts of ComfyUI's PromptServer the routes use."""

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.sockets: dict[str, object] = {}
        self.sent: list[tuple[str, Any, str | None]] = []
        self.last_node_id: str | None = None
        self.prompt_queue = Queue()

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        self.sent.append((event, data, sid))


async def started(server: Server) -> tuple[routes.Panel, TestClient[Any, Any]]:
    panel = routes.Panel(server)
    panel.add_routes(server.routes)
    app = web.Application()
    app.add_routes(server.routes)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return panel, client


def run(test: Callable[[routes.Panel, TestClient[Any, Any], Server], Any]) -> None:
    async def main() -> None:
        server = Server()
        panel, client = await started(server)
        try:
            await test(panel, client, server)
        finally:
            await client.close()

    asyncio.run(main())


def meminfo_total() -> int:
    m = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    assert m
    return int(m.group(1)) * 1024


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="needs Linux /proc/meminfo")
def test_snapshot_route_gives_the_snapshot_status_and_figures() -> None:
    async def t(_panel: routes.Panel, client: TestClient[Any, Any], _s: Server) -> None:
        r = await client.get("/memwarden/snapshot")
        assert r.status == 200
        body = await r.json()
        assert body["snapshot"]["system"]["total_bytes"] == meminfo_total()
        assert body["figures"]["mem_total_bytes"] == meminfo_total()
        assert body["figures"]["ram"]["total_bytes"] == body["snapshot"]["effective"]["total_bytes"]
        assert body["status"]["ram_total_bytes"] == body["snapshot"]["effective"]["total_bytes"]
        assert body["figures"]["process"]["pid"] == body["snapshot"]["process"]["pid"]
        assert body["snapshot"]["top_processes"]["processes"] == []
        assert all(p["cmdline"] is None for p in body["snapshot"]["gpu"]["processes"])
        assert body["figures"]["pressure"]["level"] in ("none", "low", "moderate", "high", "critical")

    run(t)


BAD_CLEANUPS = [
    ("{not json", "the body is not valid JSON"),
    ('["balanced"]', "the body must be a JSON object, got an array"),
    ('{"mode": "turbo"}', "turbo"),
    ('{"mode": 3}', '"mode" must be a string'),
    ('{"mode": "balanced", "force": true}', "unknown field(s) 'force'"),
    ("{}", '"mode" must be a string'),
]


@pytest.mark.parametrize(("body", "message"), BAD_CLEANUPS)
def test_bad_cleanup_request_is_refused_and_nothing_runs(body: str, message: str) -> None:
    async def t(panel: routes.Panel, client: TestClient[Any, Any], _s: Server) -> None:
        r = await client.post("/memwarden/cleanup", data=body)
        assert r.status == 400
        error = (await r.json())["error"]
        assert error.startswith("cleanup refused, nothing done: "), error
        assert message in error, error
        assert panel.cleanups.section()["items"] == []
        assert not panel.busy.locked()

    run(t)


def test_cleanup_runs_the_pipeline_and_is_recorded() -> None:
    async def t(panel: routes.Panel, client: TestClient[Any, Any], _s: Server) -> None:
        r = await client.post("/memwarden/cleanup", json={"mode": "Monitor Only"})
        assert r.status == 200
        body = await r.json()
        assert body["text"].startswith("memwarden cleanup (monitor)")
        assert "CLEANUP RESULTS:" in body["text"]
        assert body["report"]["mode"] == "monitor"
        items = panel.cleanups.section()["items"]
        assert [i["mode"] for i in items] == ["monitor"]
        assert items[0]["process_freed_bytes"] == body["report"]["process_freed_bytes"]
        assert not panel.busy.locked()

    run(t)


def test_second_cleanup_while_one_runs_gets_409() -> None:
    async def t(panel: routes.Panel, client: TestClient[Any, Any], _s: Server) -> None:
        assert panel.busy.acquire(blocking=False)  # as a running cleanup holds it
        try:
            r = await client.post("/memwarden/cleanup", json={"mode": "balanced"})
            assert r.status == 409
            assert "already running" in (await r.json())["error"]
            assert panel.cleanups.section()["items"] == []
        finally:
            panel.busy.release()

    run(t)


def test_cleanup_that_unloads_models_waits_for_the_running_prompt() -> None:
    async def t(panel: routes.Panel, client: TestClient[Any, Any], server: Server) -> None:
        server.prompt_queue.running = [(0, "p9", {}, {}, [])]
        r = await client.post("/memwarden/cleanup", json={"mode": "balanced"})
        assert r.status == 409
        assert "prompt p9 is running" in (await r.json())["error"]
        assert panel.cleanups.section()["items"] == []
        r = await client.post("/memwarden/cleanup", json={"mode": "conservative"})
        assert r.status == 200  # no model is unloaded: allowed while a prompt runs
        assert (await r.json())["report"]["mode"] == "conservative"

    run(t)


BAD_FEED = [
    ('{"interval_s": 1}', '"client_id" must be'),
    ('{"client_id": "a", "interval_s": "fast"}', '"interval_s" must be a number'),
    ('{"client_id": "a", "interval_s": true}', '"interval_s" must be a number'),
    ('{"client_id": "a", "enabled": "yes"}', '"enabled" must be true or false'),
    ('{"client_id": "a", "rate": 2}', "unknown field(s) 'rate'"),
    ("3", "must be a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), BAD_FEED)
def test_bad_feed_settings_are_refused(body: str, message: str) -> None:
    async def t(panel: routes.Panel, client: TestClient[Any, Any], _s: Server) -> None:
        r = await client.post("/memwarden/feed/config", data=body)
        assert r.status == 400
        assert message in (await r.json())["error"]
        assert panel.feed.clients == {}

    run(t)


def test_feed_samples_only_while_a_subscribed_page_is_connected() -> None:
    async def t(panel: routes.Panel, client: TestClient[Any, Any], server: Server) -> None:
        # Subscribed but not connected to the websocket: nothing is sampled.
        r = await client.post("/memwarden/feed/config", json={"client_id": "page", "interval_s": 0.001})
        assert (await r.json())["sampling"] is False
        await asyncio.sleep(0.3)
        assert server.sent == []
        # Connected: samples arrive, at the clamped rate.
        server.sockets["page"] = object()
        r = await client.post("/memwarden/feed/config", json={"client_id": "page", "interval_s": 0.001})
        config = await r.json()
        assert config["sampling"] is True and config["interval_s"] == routes.MIN_INTERVAL_S
        for _ in range(100):
            if len(server.sent) >= 2:
                break
            await asyncio.sleep(0.05)
        event, data, sid = server.sent[0]
        assert (event, sid) == (routes.FEED_EVENT, "page")
        assert data["figures"]["mem_total_bytes"] > 0
        assert data["sections"]["leak"] == {"running": False}
        assert data["trace"]["seq"] >= 1 and len(data["sample"]) == 4
        # Disconnected: the sampler stops.
        del server.sockets["page"]
        thread = panel.feed.thread
        assert thread is not None
        await asyncio.to_thread(thread.join, 5)
        assert not thread.is_alive() and panel.feed.thread is None
        count = len(server.sent)
        await asyncio.sleep(0.6)
        assert len(server.sent) == count
        assert panel.feed.clients == {}

    run(t)


def test_sections_show_what_provides_them() -> None:
    def broken() -> Any:
        raise RuntimeError("detector crashed")

    remove_leak = routes.register_feed_provider("leak", lambda: {"verdict": "no leak"})
    remove_x = routes.register_feed_provider("extra", broken)
    try:
        s = routes.feed_sections()
        assert s["leak"] == {"running": True, "data": {"verdict": "no leak"}}
        assert s["extra"] == {"running": True, "error": "RuntimeError: detector crashed"}
    finally:
        remove_leak()
        remove_x()
    s = routes.feed_sections()
    assert s["leak"] == {"running": False} and "extra" not in s
    with pytest.raises(routes._native.InvalidInput):
        routes.register_feed_provider("", lambda: 1)


def test_chart_marks_prompt_and_node_starts() -> None:
    tracer = routes.Tracer(Server())

    def ev(kind: str, t: float, node: str | None = None, success: bool | None = None) -> Any:
        return SimpleNamespace(kind=kind, prompt_id="p1", time=t, node_id=node, node_type="KSampler", success=success)

    fig = {"ram": {"used_bytes": 5}, "gpu": {"devices": []}, "process": {"rss_bytes": 7}}
    tracer.on_event(ev("prompt_start", 100.0))
    tracer.on_event(ev("node_start", 100.5, "3"))
    tracer.add_sample(101.0, fig)
    tracer.on_event(ev("prompt_end", 102.0, success=True))
    tracer.add_sample(103.0, fig)  # after the end: not part of the prompt
    chart = tracer.chart()
    assert chart["prompt_id"] == "p1" and chart["end"] == 102.0 and chart["success"] is True
    assert chart["markers"] == [{"t": 0.5, "node_id": "3", "node_type": "KSampler"}]
    assert chart["samples"] == [[1.0, 5, None, 7]]


def test_without_hooks_the_queue_is_polled() -> None:
    server = Server()
    tracer = routes.Tracer(server)
    server.prompt_queue.running = [(0, "p2", {"4": {"class_type": "VAEDecode"}}, {}, [])]
    server.last_node_id = "4"
    tracer.poll_queue(10.0)
    server.prompt_queue.running = []
    tracer.poll_queue(11.0)
    chart = tracer.chart()
    assert chart["prompt_id"] == "p2" and chart["end"] == 11.0
    assert chart["markers"] == [{"t": 0.0, "node_id": "4", "node_type": "VAEDecode"}]


def test_register_outside_comfyui_adds_nothing() -> None:
    assert routes.register() is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"enabled": "yes"}', '"enabled" must be true or false'),
        ('{"reserve_mb": -5}', '"reserve_mb" must be a number of MiB'),
        ('{"reserve_mb": true}', '"reserve_mb" must be a number of MiB'),
        ('{"reserve": 5}', "unknown field(s) 'reserve'"),
        ("[1]", "a JSON object"),
    ],
)
def test_bad_guard_settings_are_refused_and_change_nothing(body: str, message: str) -> None:
    async def t(_panel: routes.Panel, client: TestClient[Any, Any], _s: Server) -> None:
        before = guard.current()
        r = await client.post("/memwarden/guard", data=body)
        assert r.status == 400
        error = (await r.json())["error"]
        assert error.startswith("guard settings refused, nothing changed: "), error
        assert message in error, error
        assert guard.current() is before

    run(t)


def test_the_settings_dialog_switches_the_guard_and_sets_its_reserve(tmp_path: Path) -> None:
    async def t(_panel: routes.Panel, client: TestClient[Any, Any], _s: Server) -> None:
        guard.start(history_file=str(tmp_path / "h.jsonl"))
        try:
            r = await client.post("/memwarden/guard", json={"reserve_mb": 300})
            body = await r.json()
            assert r.status == 200 and body["running"] and body["reserve_bytes"] == 300 << 20, body
            r = await client.post("/memwarden/guard", json={"enabled": False})
            assert (await r.json())["running"] is False
            assert guard.current() is None
            r = await client.get("/memwarden/guard")
            assert (await r.json())["text"].startswith("memwarden headroom guard: off")
        finally:
            guard.stop()

    run(t)
