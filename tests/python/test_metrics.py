"""Prometheus text from Python (memwarden.metrics_text) and the ComfyUI pack's
/memwarden/metrics route, served by a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys

import memwarden
import pytest
from memwarden.comfy import metrics_route

ACTIVITY = {
    "cleanups": [
        {"action": "aggressive", "trigger": "threshold", "count": 3, "reclaimed_bytes": 3 << 20},
        {"action": "aggressive", "trigger": "manual", "count": 1, "reclaimed_bytes": 1 << 20},
    ],
    "leak_slope_bytes_per_prompt": 2048.5,
}

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with /proc/meminfo (Linux)")


def meminfo_bytes(field: str) -> int:
    with open("/proc/meminfo") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    assert m
    return int(m.group(1)) * 1024


def sample(text: str, name: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith(name + " ") or ln.startswith(name + "{")]
    assert len(lines) == 1, (name, lines)
    return lines[0]


@linux
def test_metrics_text_of_this_machine_and_process():
    text = memwarden.metrics_text()
    assert sample(text, "memwarden_memory_total_bytes") == f"memwarden_memory_total_bytes {meminfo_bytes('MemTotal')}"
    assert f'memwarden_process_resident_memory_bytes{{pid="{__import__("os").getpid()}"' in text
    assert "# EOF" not in text and "cleanups" not in text


def test_snapshot_and_its_dict_give_the_same_text():
    snap = memwarden.snapshot(top=2, gpu=False)
    # The same lines; a family's label sets come in no set order.
    assert sorted(memwarden.metrics_text(snap).splitlines()) == sorted(
        memwarden.metrics_text(snap.to_dict()).splitlines()
    )
    assert "memwarden_top_process_resident_memory_bytes{" in memwarden.metrics_text(snap)


def test_activity_series():
    snap = memwarden.snapshot(top=0, gpu=False)
    text = memwarden.metrics_text(snap, ACTIVITY)
    assert sample(text, 'memwarden_cleanups_total{action="aggressive",trigger="threshold"}').endswith(" 3")
    assert sample(text, "memwarden_cleanup_reclaimed_bytes_total") == (
        'memwarden_cleanup_reclaimed_bytes_total{action="aggressive"} 4194304'
    )
    assert sample(text, "memwarden_leak_slope_bytes_per_prompt") == "memwarden_leak_slope_bytes_per_prompt 2048.5"


def test_openmetrics_by_accept_header():
    snap = memwarden.snapshot(top=0, gpu=False)
    accept = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
    assert memwarden.metrics_text(snap, accept=accept).endswith("# EOF\n")
    assert memwarden.metrics_content_type(accept).startswith("application/openmetrics-text; version=1.0.0")
    assert memwarden.metrics_content_type(None) == "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.parametrize(
    ("activity", "words"),
    [
        ([], "activity must be a dict"),
        ({"cleanup": []}, "unknown key 'cleanup'"),
        ({"cleanups": {}}, "must be a list"),
        ({"cleanups": [{"action": "a", "trigger": "t", "count": -1, "reclaimed_bytes": 0}]}, "['count'] must be"),
        ({"cleanups": [{"action": "a", "trigger": "t", "count": 1}]}, "needs the key 'reclaimed_bytes'"),
        ({"cleanups": [{"action": 1, "trigger": "t", "count": 1, "reclaimed_bytes": 0}]}, "must be a string"),
        ({"leak_slope_bytes_per_prompt": "fast"}, "leak_slope_bytes_per_prompt'] must be a number"),
    ],
)
def test_bad_activity_is_invalid_input(activity, words):
    snap = memwarden.snapshot(top=0, gpu=False)
    with pytest.raises(memwarden.InvalidInput, match=re.escape(words)) as e:
        memwarden.metrics_text(snap, activity)
    assert e.value.exit_code == 2


def test_bad_snapshot_and_accept_are_invalid_input():
    with pytest.raises(memwarden.InvalidInput, match="snapshot must be"):
        memwarden.metrics_text(42)
    with pytest.raises(memwarden.InvalidInput, match="accept must be a string"):
        memwarden.metrics_content_type(1)


class FakeNothing:
    """Stands for nothing: the route is added to a real aiohttp RouteTableDef."""


async def scrape_route(provider):
    from aiohttp import ClientSession, web
    from aiohttp.test_utils import TestServer

    server = FakeNothing()
    server.routes = web.RouteTableDef()  # type: ignore[attr-defined]
    metrics_route._state["registered"] = False
    assert metrics_route.register(server)
    metrics_route.set_activity_provider(provider)
    app = web.Application()
    app.add_routes(server.routes)  # type: ignore[attr-defined]
    async with TestServer(app, host="127.0.0.1") as ts, ClientSession() as s:
        async with s.get(ts.make_url("/memwarden/metrics")) as r:
            got = (r.status, r.headers["Content-Type"], await r.text())
        async with s.post(ts.make_url("/memwarden/metrics")) as r:
            post = r.status
        async with s.head(ts.make_url("/memwarden/metrics")) as r:
            head = r.status
    metrics_route.set_activity_provider(None)
    metrics_route._state["registered"] = False
    return got, post, head


def test_route_on_a_real_aiohttp_server():
    pytest.importorskip("aiohttp", reason="aiohttp (ComfyUI's web server) is not installed")
    (status, ctype, text), post, head = asyncio.run(scrape_route(lambda: ACTIVITY))
    assert status == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8"
    assert "memwarden_cleanups_total{" in text and "memwarden_memory_total_bytes " in text
    # aiohttp answers HEAD with a GET route's handler, without the body.
    assert post == 405 and head == 200
    if shutil.which("promtool"):
        out = subprocess.run(["promtool", "check", "metrics"], check=False, input=text, capture_output=True, text=True)
        assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), out.stdout + out.stderr


def test_register_outside_comfyui_is_false():
    metrics_route._state["registered"] = False
    assert metrics_route.register() is False
