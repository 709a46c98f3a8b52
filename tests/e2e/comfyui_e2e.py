"""End-to-end test of the memwarden node pack inside a real ComfyUI.

    COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=/path/to/python] python tests/e2e/comfyui_e2e.py

Starts ComfyUI on CPU on 127.0.0.1 (a free port) with this repository linked into
custom_nodes/, checks /object_info lists every memwarden node, submits workflows
through the HTTP API and reads the results from /history. The Python that runs
ComfyUI must have the memwarden package installed (``pip install .``). Uses the
standard library only; exits non-zero if any check fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NODES = {
    "MemoryCleanerForce": "Memory Cleaner (Force)",
    "MemoryMonitor": "Memory Monitor",
    "MemoryCleanup": "Memory Cleanup",
    "VRAMOptimizer": "VRAM Optimizer",
    "VRAMUnload": "VRAM Unload",
    "UnifiedMemoryManager": "Unified Memory Manager",
}


class Failed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    print(f"  {'ok  ' if cond else 'FAIL'} {what}", flush=True)
    if not cond:
        raise Failed(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Comfy:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        req = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def run(self, prompt: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        code, body = self.post("/prompt", {"prompt": prompt, "client_id": "memwarden-e2e"})
        if code != 200:
            raise Failed(f"/prompt refused the workflow: {code} {json.dumps(body)[:2000]}")
        pid = body["prompt_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hist = self.get(f"/history/{pid}")
            if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
                entry = hist[pid]
                if entry["status"].get("status_str") != "success":
                    raise Failed(f"prompt failed: {json.dumps(entry['status'])[:3000]}")
                return dict(entry)
            time.sleep(0.5)
        raise Failed(f"prompt {pid} did not finish in {timeout} s")


def text_of(entry: dict[str, Any], node_id: str) -> str:
    return str(entry["outputs"][node_id]["text"][0])


def main() -> int:
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", ""))
    if not (comfy_dir / "main.py").is_file():
        print("COMFYUI_DIR must point to a ComfyUI checkout (a folder with main.py)")
        return 2
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    probe = subprocess.run([python, "-c", "import memwarden.comfy"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        print(f"{python} cannot import memwarden: pip install . first\n{probe.stderr}")
        return 2

    link = comfy_dir / "custom_nodes" / "ComfyUI-memwarden"
    made_link = False
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
        made_link = True
    out_dir = Path(tempfile.mkdtemp(prefix="memwarden-e2e-"))
    log_path = out_dir / "comfyui.log"
    port = free_port()
    cmd = [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch"]
    cmd += ["--output-directory", str(out_dir / "output"), "--temp-directory", str(out_dir / "temp")]
    print(f"starting ComfyUI: {' '.join(cmd)} (log {log_path})", flush=True)
    log = open(log_path, "w")  # closed in finally
    server = subprocess.Popen(cmd, cwd=comfy_dir, stdout=log, stderr=subprocess.STDOUT)
    api = Comfy(f"http://127.0.0.1:{port}")
    passed = failed = 0
    try:
        deadline = time.monotonic() + 300
        info = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                info = api.get("/object_info")
                break
            except OSError:
                time.sleep(1)
        if info is None:
            raise Failed(f"ComfyUI did not come up; log:\n{log_path.read_text()[-4000:]}")

        tests = [t for name, t in sorted(globals().items()) if name.startswith("e2e_")]
        for t in tests:
            print(f"{t.__name__}: {t.__doc__}", flush=True)
            try:
                t(api, info, log_path)
                passed += 1
            except Failed:
                failed += 1
    except Failed as e:
        print(f"FAIL {e}")
        failed += 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if made_link:
            link.unlink()
        if failed:
            print(f"--- ComfyUI log (tail) ---\n{log_path.read_text()[-6000:]}")
        shutil.rmtree(out_dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def e2e_1_object_info(api: Comfy, info: dict[str, Any], _log: Path) -> None:
    """/object_info lists every memwarden node with its inputs and outputs"""
    for key, display in NODES.items():
        check(key in info, f"{key} registered")
        check(info[key]["display_name"] == display, f"{key} shows as '{display}'")
        check(info[key]["category"] == "memwarden", f"{key} in category memwarden")
    umm = info["UnifiedMemoryManager"]
    check(len(umm["output"]) == 7, "Unified Memory Manager has 7 outputs")
    check("trigger_image" in umm["input"]["optional"], "Unified Memory Manager takes an optional image")
    check("Monitor Only" in umm["input"]["required"]["mode"][0], "Unified Memory Manager modes include Monitor Only")


def e2e_2_pass_through_image(api: Comfy, _info: dict[str, Any], log_path: Path) -> None:
    """an IMAGE flows through the cleaner and the VRAM nodes into PreviewImage"""
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {
            "class_type": "MemoryCleanerForce",
            "inputs": {
                "anything": ["1", 0],
                "aggressive_trim": True,
                "enable_privileges": True,
                "external_helper": True,
                "skip_trim_if_c_low": True,
                "min_c_free_gb": 20.0,
                "purge_standby": False,
            },
        },
        "3": {
            "class_type": "MemoryCleanup",
            "inputs": {"anything": ["2", 0], "mode": "aggressive", "clear_vram": True},
        },
        "4": {
            "class_type": "VRAMOptimizer",
            "inputs": {"anything": ["3", 0], "mode": "Aggressive", "gpu_index": -1, "reset_peak_stats": True},
        },
        "5": {"class_type": "VRAMUnload", "inputs": {"anything": ["4", 0]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
    }
    entry = api.run(prompt)
    images = entry["outputs"].get("6", {}).get("images", [])
    check(len(images) == 1, "PreviewImage received the image passed through four memwarden nodes")
    cleaner = text_of(entry, "2")
    check("CLEANUP RESULTS:" in cleaner, "Memory Cleaner (Force) report in /history")
    check("[0/7] Unload models: unloaded" in cleaner, "models unloaded through ComfyUI's own model management")
    check("[5/7] OS-level trim: malloc_trim" in cleaner, "OS-level trim ran")
    check("Drop cached outputs" in cleaner, "asked ComfyUI to drop cached outputs after the prompt")
    check("CLEANUP RESULTS:" in text_of(entry, "3"), "Memory Cleanup report in /history")
    check("no CUDA device" in text_of(entry, "4"), "VRAM Optimizer says there is no CUDA device (CPU run)")
    check("unloaded" in text_of(entry, "5"), "VRAM Unload report in /history")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "[memwarden] deferred trim" not in log_path.read_text():
        time.sleep(0.5)
    text = log_path.read_text()
    check("[memwarden] deferred trim after ComfyUI freed cached outputs" in text, "heap trimmed after ComfyUI's reset")
    check("[memwarden] Memory Cleaner (Force): RAM: " in text, "status line written to the ComfyUI console")


def umm_prompt(**overrides: Any) -> dict[str, Any]:
    inputs = {
        "enable_monitoring": True,
        "enable_optimization": True,
        "auto_optimize": False,
        "enable_auto_cleanup": True,
        "ram_threshold": 80.0,
        "vram_threshold": 85.0,
        "mode": "Conservative",
        "detailed_report": True,
        "cooldown_seconds": 0.0,
        "trigger_image": ["1", 0],
    }
    inputs.update(overrides)
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 255}},
        "2": {"class_type": "UnifiedMemoryManager", "inputs": inputs},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 6]}},
        "4": {
            "class_type": "MemoryMonitor",
            "inputs": {"warning_threshold": 99.0, "detailed_report": True, "top_processes": 5},
        },
    }


def e2e_3_unified_manager_reexecutes(api: Comfy, _info: dict[str, Any], _log: Path) -> None:
    """the Unified Memory Manager runs on every prompt (never cached) and keeps its history"""
    first = api.run(umm_prompt())
    second = api.run(umm_prompt())
    r1, r2 = text_of(first, "2"), text_of(second, "2")
    check("Optimization: performed" in r1 and "Optimization: performed" in r2, "optimized on both prompts")
    n1 = int(r1.split("Last ")[1].split(" ")[0])
    n2 = int(r2.split("Last ")[1].split(" ")[0])
    check(n2 == n1 + 1, f"history grew from {n1} to {n2}: the node re-executed")
    check("CONTAINER" in r1 and "GPUS" in r1, "detailed report has the container and GPU sections")
    check(len(second["outputs"]["3"]["images"]) == 1, "trigger image passed through to PreviewImage")
    check(text_of(second, "4").find("SYSTEM") >= 0, "Memory Monitor report in /history")


def e2e_4_bad_input_rejected(api: Comfy, _info: dict[str, Any], _log: Path) -> None:
    """out-of-range node inputs are refused by validation, before anything runs"""
    # ComfyUI runs whatever outputs validate, so leave only those depending on node 2.
    bad = umm_prompt(ram_threshold=150.0)
    del bad["4"]
    code, body = api.post("/prompt", {"prompt": bad})
    check(code == 400, f"/prompt answered {code} for ram_threshold=150")
    check("ram_threshold" in json.dumps(body), "the error names ram_threshold")
    bad = umm_prompt(mode="Turbo")
    del bad["4"]
    code, body = api.post("/prompt", {"prompt": bad})
    check(code == 400 and "mode" in json.dumps(body), "an unknown mode is refused")


if __name__ == "__main__":
    sys.exit(main())
