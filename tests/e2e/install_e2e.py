"""The node pack installed as ComfyUI-Manager installs it, in a real ComfyUI.

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/its/venv/bin/python python tests/e2e/install_e2e.py

ComfyUI-Manager clones a node pack into custom_nodes/ and runs ``pip install LINE``
for each line of its requirements.txt that is neither empty nor a comment, in the
pack's folder; a user installing by hand runs ``pip install -r requirements.txt``.
This test does both with this checkout, in a virtual environment that has ComfyUI's
requirements (those of COMFYUI_PYTHON's venv, linked in) but not memwarden, then
starts ComfyUI with the pack linked into custom_nodes/:

- requirements.txt with no package line (memwarden is not on PyPI yet): pip installs
  nothing and succeeds; ComfyUI starts and serves its own nodes, the pack is listed
  as IMPORT FAILED and ComfyUI's log carries the pack's message, which names the
  Python that runs ComfyUI and the two ways to install memwarden today;
- a package line that pip cannot install is a failure (a Manager install would fail);
- package lines that install memwarden: the pack's nodes load.

Then, without the package, the message is followed: a memwarden wheel built from this
checkout (target/e2e-wheel, which scripts/e2e builds, or scripts/test-wheels'
manylinux wheel) is installed by its path with the Python the message names, ComfyUI
is started again and the pack's nodes and routes are there.

Exit status: 0 passed, or not set up (COMFYUI_DIR or COMFYUI_PYTHON missing: a
"SKIPPED:" line says why); 1 a check failed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comfyui_e2e as e2e

PACK_NODES = (
    "AutoMemoryCleanup",
    "MemoryCleanerForce",
    "MemoryCleanup",
    "MemoryLeakDetector",
    "MemoryMonitor",
    "SmartMemoryManager",
    "UnifiedMemoryManager",
    "VRAMOptimizer",
    "VRAMUnload",
)
# Where a wheel built from this checkout is: scripts/e2e's build, scripts/test-wheels'.
WHEEL_DIRS = (e2e.REPO / "target" / "e2e-wheel", e2e.REPO / "target" / "wheels-dist")
MISSING = "memwarden node pack: the memwarden Python package is not installed in the Python that runs ComfyUI"

COUNTS = {"ok": 0, "failed": 0}


def check(cond: bool, what: str) -> bool:
    COUNTS["ok" if cond else "failed"] += 1
    print(f"{'ok  ' if cond else 'FAIL'} {what}", flush=True)
    return cond


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=900)


def venv_without_memwarden(python: str, dest: Path) -> str:
    """A venv of the same interpreter as ``python``'s, with every distribution of that
    venv (linked, nothing copied or downloaded) except memwarden. Its Python's path."""
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    source = Path(run([python, "-c", purelib], Path.cwd()).stdout.strip())
    made = run([python, "-m", "venv", "--without-pip", str(dest)], Path.cwd())
    if made.returncode != 0:
        raise SystemExit(f"could not make a venv at {dest}: {made.stderr}")
    new_python = str(dest / "bin" / "python")
    target = Path(run([new_python, "-c", purelib], Path.cwd()).stdout.strip())
    for entry in sorted(source.iterdir()):
        name = entry.name.lower()
        if name == "memwarden" or name.startswith("memwarden-") or name == "__pycache__":
            continue
        if not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry)
    return new_python


def requirement_lines() -> list[str]:
    """The lines ComfyUI-Manager runs ``pip install`` on (it skips blanks and comments)."""
    text = (e2e.REPO / "requirements.txt").read_text()
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def imports_memwarden(python: str) -> bool:
    return run([python, "-c", "import memwarden"], Path.cwd()).returncode == 0


def manager_install(python: str) -> bool:
    """requirements.txt as ComfyUI-Manager and as a user run it. True when memwarden
    is importable after it."""
    lines = requirement_lines()
    print(f"requirements.txt package lines: {lines}", flush=True)
    for line in lines:
        out = run([python, "-m", "pip", "install", line], e2e.REPO)
        check(
            out.returncode == 0,
            f"ComfyUI-Manager's `pip install {line}` in the pack's folder: exit {out.returncode}"
            + ("" if out.returncode == 0 else f"\n{out.stdout[-1500:]}{out.stderr[-1500:]}"),
        )
    out = run([python, "-m", "pip", "install", "-r", "requirements.txt"], e2e.REPO)
    check(
        out.returncode == 0,
        f"`pip install -r requirements.txt` in the pack's folder: exit {out.returncode}"
        + ("" if out.returncode == 0 else f"\n{out.stdout[-1500:]}{out.stderr[-1500:]}"),
    )
    installed = imports_memwarden(python)
    if not lines:
        check(not installed, "requirements.txt names no package: nothing was installed, memwarden is still missing")
    return installed


def start_comfyui(python: str, comfy_dir: Path, run_dir: Path) -> tuple[e2e.Comfy, subprocess.Popen[bytes]]:
    for sub in ("input", "output", "temp", "models"):
        (run_dir / sub).mkdir(parents=True)
    (run_dir / "extra_model_paths.yaml").write_text(f"memwarden_install:\n  base_path: {str(run_dir / 'models')!r}\n")
    port = e2e.free_port()
    cmd = e2e.comfy_command(python, comfy_dir, run_dir, port)
    with open(run_dir / "comfyui.log", "w") as log:
        server = subprocess.Popen(cmd, cwd=comfy_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return e2e.Comfy(f"http://127.0.0.1:{port}", port, run_dir / "comfyui.log"), server


def comfyui_with_pack(python: str, comfy_dir: Path, run_dir: Path, has_package: bool) -> None:
    """ComfyUI started with the pack linked in: with the package, the pack loads; without
    it, ComfyUI starts anyway and its log carries the pack's message."""
    api, server = start_comfyui(python, comfy_dir, run_dir)
    try:
        started = time.monotonic()
        info = e2e.wait_for_object_info(api, server)
        print(f"ComfyUI up on {api.base} in {time.monotonic() - started:.0f} s", flush=True)
        own = "KSampler" in info and "VAEDecode" in info
        check(own, f"ComfyUI serves its own nodes ({len(info)} in /object_info)")
        ours = sorted(n for n in PACK_NODES if n in info)
        if has_package:
            check(ours == sorted(PACK_NODES), f"the pack's nodes are loaded: {ours}")
            snapshot = api.get("/memwarden/snapshot")
            check("figures" in snapshot, "the pack's routes answer (GET /memwarden/snapshot)")
            return
        log_text = api.log()
        check(ours == [], f"none of the pack's nodes is loaded ({ours})")
        failed_line = [line for line in log_text.splitlines() if "IMPORT FAILED" in line and e2e.LINK_NAME in line]
        check(bool(failed_line), f"ComfyUI lists the pack as IMPORT FAILED: {failed_line[:1]}")
        message = [line for line in log_text.splitlines() if MISSING in line]
        check(bool(message), "ComfyUI's log carries the pack's message")
        text = message[-1] if message else log_text[-3000:]
        print(f"   {text.strip()[:1500]}", flush=True)
        check(f'"{python}" -m pip install' in text, "the message names the Python that runs ComfyUI")
        wheel = ".whl" in text and "scripts/test-wheels" in text
        check(wheel, "the message says how to install a wheel by its path")
        folders = (comfy_dir / "custom_nodes" / e2e.LINK_NAME, e2e.REPO)
        source = any(f'-m pip install "{folder}"' in text for folder in folders)
        check(source, "the message says how to build it from the pack's folder")
        why = "cargo" in text and "not published on PyPI yet" in text
        check(why, "the message says a Rust toolchain is needed and why")
        try:
            api.get("/memwarden/snapshot")
            check(False, "GET /memwarden/snapshot answered though the pack did not load")
        except OSError as e:
            check("404" in str(e), f"the pack's routes are absent (GET /memwarden/snapshot: {e})")
    finally:
        e2e.stop(server)


def built_wheel() -> Path | None:
    """A memwarden wheel built from this checkout: scripts/e2e's, else scripts/test-wheels'."""
    for folder, pattern in ((WHEEL_DIRS[0], "memwarden-*.whl"), (WHEEL_DIRS[1], "memwarden-*manylinux*x86_64.whl")):
        found = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    return None


def follow_the_message(python: str, comfy_dir: Path, tmp: Path) -> None:
    """What the message says: a wheel installed by its path with the Python it names,
    then ComfyUI restarted: the pack loads."""
    wheel = built_wheel()
    if wheel is None:
        print(
            "SKIPPED: tests/e2e/install_e2e.py: the message's wheel install was not followed: no wheel in "
            f"{WHEEL_DIRS[0]} (scripts/e2e builds it) or {WHEEL_DIRS[1]} (scripts/test-wheels)",
            flush=True,
        )
        return
    out = run([python, "-m", "pip", "install", str(wheel)], tmp)
    ok = out.returncode == 0 and imports_memwarden(python)
    check(ok, f"`{python} -m pip install {wheel}`: exit {out.returncode}" + ("" if ok else f"\n{out.stderr[-1500:]}"))
    if ok:
        comfyui_with_pack(python, comfy_dir, tmp / "after", has_package=True)


def main() -> int:
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", "")).expanduser().resolve()
    python = os.environ.get("COMFYUI_PYTHON", "")
    if not os.environ.get("COMFYUI_DIR") or not (comfy_dir / "main.py").is_file():
        print("SKIPPED: tests/e2e/install_e2e.py: COMFYUI_DIR must point to a ComfyUI checkout (see scripts/e2e)")
        return 0
    if not python or not Path(python).is_file():
        print("SKIPPED: tests/e2e/install_e2e.py: COMFYUI_PYTHON must be a venv's Python with ComfyUI's requirements")
        return 0
    link = comfy_dir / "custom_nodes" / e2e.LINK_NAME
    if link.exists() or link.is_symlink():
        print(f"SKIPPED: tests/e2e/install_e2e.py: {link} exists: move it away first")
        return 0
    signal.signal(signal.SIGTERM, e2e._terminate)
    tmp = Path(tempfile.mkdtemp(prefix="memwarden-install-"))
    try:
        bare = venv_without_memwarden(python, tmp / "venv")
        check(not imports_memwarden(bare), f"a venv with ComfyUI's requirements and no memwarden: {bare}")
        has_package = manager_install(bare)
        link.symlink_to(e2e.REPO, target_is_directory=True)
        try:
            comfyui_with_pack(bare, comfy_dir, tmp / "before", has_package)
            if not has_package:
                follow_the_message(bare, comfy_dir, tmp)
        finally:
            link.unlink()
    except e2e.Failed as e:
        check(False, str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"install e2e: {COUNTS['ok']} ok, {COUNTS['failed']} failed", flush=True)
    return 1 if COUNTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
