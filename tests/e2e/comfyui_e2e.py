"""End-to-end test of the memwarden node pack inside a real ComfyUI.

    scripts/e2e /path/to/ComfyUI          # the documented way: builds, links, runs this, cleans up
    COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=/path/to/python] python tests/e2e/comfyui_e2e.py

Starts ComfyUI on CPU, listening on 127.0.0.1 only (a free port), with this
repository linked into custom_nodes/ and a temporary user directory, database,
output and model folder, so the checkout is left as it was. It writes two small
TAESD models (tests/e2e/tiny_models.py: random weights, nothing downloaded) that
ComfyUI's own VAELoader/VAEDecode load through ``comfy.model_management``, checks
/object_info lists every memwarden node, submits workflows through the HTTP API and
reads the results from /history and the ComfyUI log: models unloaded through
ComfyUI's model management, cached outputs dropped by ComfyUI's post-prompt reset,
and memwarden's deferred heap trim after it.

The Python that runs ComfyUI (COMFYUI_PYTHON, default: this one) must have
ComfyUI's requirements and the memwarden package installed (``pip install .``).
The harness itself uses the standard library only. The last line of the output is
the summary, ending in " 0 failed" when everything passed; exits non-zero if any
check fails. MEMWARDEN_E2E_PIDFILE, if set, receives ComfyUI's PID (scripts/e2e
uses it to stop the server even if this process is killed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
LINK_NAME = "ComfyUI-memwarden"
NODES = {
    "MemoryCleanerForce": "Memory Cleaner (Force)",
    "MemoryMonitor": "Memory Monitor",
    "MemoryCleanup": "Memory Cleanup",
    "VRAMOptimizer": "VRAM Optimizer",
    "VRAMUnload": "VRAM Unload",
    "UnifiedMemoryManager": "Unified Memory Manager",
    "AutoMemoryCleanup": "Auto Memory Cleanup",
    "SmartMemoryManager": "Smart Memory Manager",
}
#: The models tests/e2e/tiny_models.py writes, as ComfyUI's VAELoader names them.
VAES = ("taesd", "taesdxl")
DEFERRED = "[memwarden] deferred trim after ComfyUI freed cached outputs"
CHECKS = {"ok": 0, "failed": 0}


class Failed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    print(f"  {'ok  ' if cond else 'FAIL'} {what}", flush=True)
    CHECKS["ok" if cond else "failed"] += 1
    if not cond:
        raise Failed(what)


def info(what: str) -> None:
    print(f"  info {what}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_addresses(port: int) -> list[str] | None:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp
    and tcp6), as hex strings; None where /proc/net is not there."""
    found = []
    seen = False
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            fields = line.split()
            addr, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.append(addr)
    return found if seen else None


class Comfy:
    def __init__(self, base: str, port: int, log_path: Path) -> None:
        self.base = base
        self.port = port
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

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

    def wait_in_log(self, text: str, count: int, timeout: float = 30) -> int:
        """Wait until ``text`` occurs ``count`` times in the ComfyUI log; return how
        often it occurs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.log().count(text) < count:
            time.sleep(0.25)
        return self.log().count(text)


def text_of(entry: dict[str, Any], node_id: str) -> str:
    return str(entry["outputs"][node_id]["text"][0])


def cached_nodes(entry: dict[str, Any]) -> list[str]:
    """The node ids ComfyUI served from its cache in this prompt (its
    ``execution_cached`` message, kept in /history)."""
    for event, data in entry["status"].get("messages", []):
        if event == "execution_cached":
            return [str(n) for n in data.get("nodes", [])]
    raise Failed("no execution_cached message in /history: this ComfyUI reports caching differently")


def supports(comfy_dir: Path, flag: str) -> bool:
    try:
        return f'"{flag}"' in (comfy_dir / "comfy" / "cli_args.py").read_text()
    except OSError:
        return False


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop ComfyUI and anything it started (it runs in its own process group)."""
    if server.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def preflight(comfy_dir: Path, python: str) -> tuple[str, bool]:
    """("", whether the pack link is to be made) when ComfyUI and the package are
    there and custom_nodes/ has no other pack under our name, else (why not, False)."""
    if not os.environ.get("COMFYUI_DIR") or not (comfy_dir / "main.py").is_file():
        return "COMFYUI_DIR must point to a ComfyUI checkout (a folder with main.py); see scripts/e2e", False
    probe = subprocess.run([python, "-c", "import memwarden.comfy"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"{python} cannot import memwarden: pip install . first\n{probe.stderr}", False
    link = comfy_dir / "custom_nodes" / LINK_NAME
    if link.exists() or link.is_symlink():
        if link.resolve() != REPO:
            return f"{link} exists and is not this checkout ({REPO}): move it away first", False
        return "", False
    return "", True


def write_models(python: str, out_dir: Path) -> None:
    """The two tiny TAESD models, and the extra_model_paths.yaml that points ComfyUI at them."""
    models = out_dir / "models"
    made = subprocess.run(
        [python, str(REPO / "tests" / "e2e" / "tiny_models.py"), str(models)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise Failed(f"could not write the test models:\n{made.stdout}{made.stderr}")
    (out_dir / "extra_model_paths.yaml").write_text(
        f"memwarden_e2e:\n  base_path: {json.dumps(str(models))}\n  vae_approx: vae_approx\n"
    )


def comfy_command(python: str, comfy_dir: Path, out_dir: Path, port: int) -> list[str]:
    """ComfyUI on CPU, on loopback, with every folder it writes in ``out_dir``."""
    cmd = [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch"]
    cmd += ["--output-directory", str(out_dir / "output"), "--temp-directory", str(out_dir / "temp")]
    cmd += ["--input-directory", str(out_dir / "input")]
    cmd += ["--extra-model-paths-config", str(out_dir / "extra_model_paths.yaml")]
    if supports(comfy_dir, "--user-directory"):
        (out_dir / "user").mkdir()
        cmd += ["--user-directory", str(out_dir / "user")]
    if supports(comfy_dir, "--database-url"):
        cmd += ["--database-url", "sqlite:///:memory:"]
    return cmd


def wait_for_object_info(api: Comfy, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    """/object_info once the server answers (at most 5 minutes)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return dict(api.get("/object_info"))
        except OSError:
            time.sleep(1)
    raise Failed(f"ComfyUI did not come up (exit status {server.poll()})")


def run_groups(api: Comfy, node_info: dict[str, Any]) -> tuple[int, int]:
    """Every ``e2e_*`` group in name order: (passed, failed)."""
    passed = failed = 0
    for name, t in sorted(globals().items()):
        if not name.startswith("e2e_"):
            continue
        print(f"{t.__name__}: {' '.join((t.__doc__ or '').split())}", flush=True)
        try:
            t(api, node_info)
            passed += 1
        except Failed:
            failed += 1
        except (OSError, KeyError, ValueError, IndexError) as e:
            print(f"  FAIL {type(e).__name__}: {e}", flush=True)
            CHECKS["failed"] += 1
            failed += 1
    return passed, failed


def run_server_and_groups(comfy_dir: Path, python: str, out_dir: Path, log: IO[str], started: float) -> tuple[int, int]:
    """Start ComfyUI, run every group against it, stop it: (passed, failed)."""
    write_models(python, out_dir)
    port = free_port()
    cmd = comfy_command(python, comfy_dir, out_dir, port)
    print(f"starting ComfyUI in {comfy_dir}: {' '.join(cmd)} (log {log.name})", flush=True)
    server = subprocess.Popen(cmd, cwd=comfy_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if os.environ.get("MEMWARDEN_E2E_PIDFILE"):
            Path(os.environ["MEMWARDEN_E2E_PIDFILE"]).write_text(f"{server.pid}\n")
        api = Comfy(f"http://127.0.0.1:{port}", port, Path(log.name))
        node_info = wait_for_object_info(api, server)
        version = re.search(r"ComfyUI version: (\S+)", api.log())
        print(f"ComfyUI {version.group(1) if version else '(version not logged)'} up in "
              f"{time.monotonic() - started:.0f} s on 127.0.0.1:{port}", flush=True)  # fmt: skip
        return run_groups(api, node_info)
    finally:
        stop(server)


def main() -> int:
    started = time.monotonic()
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", "")).expanduser().resolve()
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    problem, made_link = preflight(comfy_dir, python)
    if problem:
        print(problem)
        return 2
    link = comfy_dir / "custom_nodes" / LINK_NAME
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    out_dir = Path(tempfile.mkdtemp(prefix="memwarden-e2e-"))
    log_path = out_dir / "comfyui.log"
    passed = failed = 0
    try:
        if made_link:
            link.symlink_to(REPO, target_is_directory=True)
        with open(log_path, "w") as log:
            passed, failed = run_server_and_groups(comfy_dir, python, out_dir, log, started)
    except Failed as e:
        print(f"FAIL {e}")
        failed += 1
    finally:
        if made_link and link.is_symlink():
            link.unlink()
        if failed and log_path.exists():
            print(f"--- ComfyUI log (tail; whole log kept in {out_dir}) ---\n{log_path.read_text()[-6000:]}")
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
    took = time.monotonic() - started
    print(f"ComfyUI e2e: {CHECKS['ok']} checks ok in {took:.0f} s; groups: {passed} passed, {failed} failed")
    return 1 if failed else 0


def e2e_1_object_info(api: Comfy, node_info: dict[str, Any]) -> None:
    """the server listens on loopback only; /object_info lists every memwarden node from the linked pack"""
    addresses = listening_addresses(api.port)
    if addresses is None:
        info("/proc/net is not readable here: listening address not checked")
    else:
        loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
        check(bool(addresses) and set(addresses) <= loopback, f"port {api.port} listens on 127.0.0.1 only")
    for key, display in NODES.items():
        check(key in node_info, f"{key} registered")
        check(node_info[key]["display_name"] == display, f"{key} shows as '{display}'")
        check(node_info[key]["category"] == "memwarden", f"{key} in category memwarden")
    module = node_info["MemoryCleanerForce"].get("python_module")
    if module is not None:
        check(module.endswith(LINK_NAME), f"nodes come from custom_nodes/{LINK_NAME} ({module})")
    umm = node_info["UnifiedMemoryManager"]
    check(len(umm["output"]) == 7, "Unified Memory Manager has 7 outputs")
    check("trigger_image" in umm["input"]["optional"], "Unified Memory Manager takes an optional image")
    check("Monitor Only" in umm["input"]["required"]["mode"][0], "Unified Memory Manager modes include Monitor Only")
    vaes = node_info["VAELoader"]["input"]["required"]["vae_name"][0]
    check(all(v in vaes for v in VAES), f"ComfyUI's VAELoader offers the test models {', '.join(VAES)}")


def cleaner_prompt() -> dict[str, Any]:
    """Two real models (TAESD VAEs) loaded by ComfyUI's nodes, their images batched
    and passed through four memwarden nodes into PreviewImage."""
    return {
        "1": {"class_type": "VAELoader", "inputs": {"vae_name": VAES[0]}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": VAES[1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 0]}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["2", 0]}},
        "6": {"class_type": "ImageBatch", "inputs": {"image1": ["4", 0], "image2": ["5", 0]}},
        "7": {
            "class_type": "MemoryCleanerForce",
            "inputs": {
                "anything": ["6", 0],
                "aggressive_trim": True,
                "enable_privileges": True,
                "external_helper": True,
                "skip_trim_if_c_low": True,
                "min_c_free_gb": 20.0,
                "purge_standby": False,
            },
        },
        "8": {
            "class_type": "MemoryCleanup",
            "inputs": {"anything": ["7", 0], "mode": "aggressive", "clear_vram": True},
        },
        "9": {
            "class_type": "VRAMOptimizer",
            "inputs": {"anything": ["8", 0], "mode": "Aggressive", "gpu_index": -1, "reset_peak_stats": True},
        },
        "10": {"class_type": "VRAMUnload", "inputs": {"anything": ["9", 0]}},
        "11": {"class_type": "PreviewImage", "inputs": {"images": ["10", 0]}},
    }


LOADERS = ["1", "2", "4", "5"]  # VAELoader x2, VAEDecode x2 in cleaner_prompt()


def e2e_2_models_stay_loaded_and_cached(api: Comfy, _info: dict[str, Any]) -> None:
    """without memwarden, ComfyUI keeps the two models loaded and serves their nodes from its cache"""
    prompt = {k: v for k, v in cleaner_prompt().items() if k in ("1", "2", "3", "4", "5", "6")}
    prompt["11"] = {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}}
    first = api.run(prompt)
    check(len(first["outputs"]["11"]["images"]) == 2, "two TAESD models decoded a latent each (PreviewImage got 2)")
    loads = re.findall(r"Requested to load (\w+)", api.log())
    info(f"ComfyUI's model management logged: {', '.join(f'Requested to load {m}' for m in loads) or 'nothing'}")
    second = api.run(prompt)
    cached = cached_nodes(second)
    check(set(LOADERS) <= set(cached), f"second run served the loaders and decoders from ComfyUI's cache ({cached})")


def e2e_3_cleaner_unloads_models_and_trims_after_reset(api: Comfy, _info: dict[str, Any]) -> None:
    """Memory Cleaner (Force) unloads the models through ComfyUI's model management; after the prompt
    ComfyUI drops its cached outputs and memwarden trims the heap (deferred trim)"""
    trims_before = api.log().count(DEFERRED)
    entry = api.run(cleaner_prompt())
    images = entry["outputs"].get("11", {}).get("images", [])
    check(len(images) == 2, "PreviewImage received both images passed through four memwarden nodes")
    cleaner = text_of(entry, "7")
    check("CLEANUP RESULTS:" in cleaner, "Memory Cleaner (Force) report in /history")
    unloaded = re.search(r"\[0/7\] Unload models: unloaded (\d+) model", cleaner)
    check(
        unloaded is not None and int(unloaded.group(1)) == len(VAES),
        f"unloaded {unloaded.group(1) if unloaded else '?'} model(s) through ComfyUI's model management "
        f"(expected {len(VAES)})",
    )
    check("[5/7] OS-level trim: malloc_trim" in cleaner, "OS-level trim ran")
    check("Drop cached outputs" in cleaner, "asked ComfyUI to drop cached outputs after the prompt")
    check("the heap is trimmed then" in cleaner, "report says the heap is trimmed after the prompt")
    cleanup = text_of(entry, "8")
    check("CLEANUP RESULTS:" in cleanup, "Memory Cleanup report in /history")
    check(
        "[0/7] Unload models: unloaded 0 model(s)" in cleanup,
        "ComfyUI's loaded-model list was empty after the cleaner (Memory Cleanup found 0 to unload)",
    )
    check("no CUDA device" in text_of(entry, "9"), "VRAM Optimizer says there is no CUDA device (CPU run)")
    check("unloaded 0 model(s)" in text_of(entry, "10"), "VRAM Unload report in /history (0 left to unload)")

    count = api.wait_in_log(DEFERRED, trims_before + 1)
    check(count == trims_before + 1, "heap trimmed after ComfyUI's post-prompt reset ('[memwarden] deferred trim')")
    line = [x for x in api.log().splitlines() if DEFERRED in x][-1]
    info(line.strip())
    rss = re.search(r"RSS ([\d.]+) GB -> ([\d.]+) GB", line)
    check(rss is not None, "deferred trim reports RSS before and after")
    check("[memwarden] Memory Cleaner (Force): RAM: " in api.log(), "status line written to the ComfyUI console")

    # The same prompt again: ComfyUI's reset dropped the cached outputs, so its
    # loaders run again, load both models again, and memwarden unloads them again.
    again = api.run(cleaner_prompt())
    cached = cached_nodes(again)
    check(
        not set(LOADERS) & set(cached),
        f"ComfyUI's reset dropped the cached outputs: loaders and decoders ran again (cached: {cached})",
    )
    check(
        f"Unload models: unloaded {len(VAES)} model(s)" in text_of(again, "7"),
        f"the reloaded {len(VAES)} models were unloaded again",
    )
    count = api.wait_in_log(DEFERRED, trims_before + 2)
    check(count == trims_before + 2, "a second deferred trim after the second prompt")


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


def e2e_4_unified_manager_reexecutes(api: Comfy, _info: dict[str, Any]) -> None:
    """the Unified Memory Manager runs on every prompt (never cached) and keeps its history"""
    first = api.run(umm_prompt())
    second = api.run(umm_prompt())
    r1, r2 = text_of(first, "2"), text_of(second, "2")
    check("Optimization: performed" in r1 and "Optimization: performed" in r2, "optimized on both prompts")
    n1 = int(r1.split("Last ")[1].split(" ")[0])
    n2 = int(r2.split("Last ")[1].split(" ")[0])
    check(n2 == n1 + 1, f"history grew from {n1} to {n2}: the node re-executed")
    check("2" not in cached_nodes(second), "ComfyUI did not serve the Unified Memory Manager from its cache")
    check("CONTAINER" in r1 and "GPUS" in r1, "detailed report has the container and GPU sections")
    check(len(second["outputs"]["3"]["images"]) == 1, "trigger image passed through to PreviewImage")
    check(text_of(second, "4").find("SYSTEM") >= 0, "Memory Monitor report in /history")


def e2e_5_bad_input_rejected(api: Comfy, _info: dict[str, Any]) -> None:
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


def e2e_6_metrics_route(api: Comfy, _info: dict[str, Any]) -> None:
    """GET /memwarden/metrics answers Prometheus text of ComfyUI's machine and process; POST is 405"""
    with urllib.request.urlopen(api.base + "/memwarden/metrics", timeout=30) as r:
        ctype, text = r.headers.get("Content-Type", ""), r.read().decode()
    check(ctype.startswith("text/plain; version=0.0.4"), f"0.0.4 text by default ({ctype})")
    meminfo = Path("/proc/meminfo").read_text()
    total = int(re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M).group(1)) * 1024  # type: ignore[union-attr]
    check(f"\nmemwarden_memory_total_bytes {total}\n" in text, "memwarden_memory_total_bytes is MemTotal")
    check('memwarden_process_resident_memory_bytes{pid="' in text, "ComfyUI is the inspected process")
    req = urllib.request.Request(
        api.base + "/api/memwarden/metrics", headers={"Accept": "application/openmetrics-text"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        om = r.read().decode()
    check(om.endswith("# EOF\n"), "OpenMetrics when asked, also under /api")
    try:
        urllib.request.urlopen(
            urllib.request.Request(api.base + "/memwarden/metrics", data=b"", method="POST"), timeout=30
        )
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
    check(code == 405, f"POST answered {code}")
    if shutil.which("promtool"):
        out = subprocess.run(["promtool", "check", "metrics"], check=False, input=text, capture_output=True, text=True)
        check(out.returncode == 0 and not (out.stdout + out.stderr).strip(), f"promtool: {out.stdout}{out.stderr}")
    else:
        info("promtool not installed (Debian package prometheus): lint not run")


if __name__ == "__main__":
    sys.exit(main())
