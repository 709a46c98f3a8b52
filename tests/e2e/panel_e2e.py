"""The memwarden panel in a real browser against a real ComfyUI (run by scripts/test-panel).

    COMFYUI_DIR=/path/to/ComfyUI python tests/e2e/panel_e2e.py OUT_DIR [--readme-image]

Starts ComfyUI as tests/e2e/comfyui_e2e.py does (CPU, 127.0.0.1, a free port, this
checkout linked into custom_nodes/, temporary folders), then runs
tests/e2e/panel_e2e.mjs: headless Chromium driven by playwright-core opens the
memwarden sidebar tab, compares its figures with GET /memwarden/snapshot, clicks a
cleanup button and checks the report, switches a setting in ComfyUI's settings
dialog and reloads; screenshots go to OUT_DIR. With --readme-image, OUT_DIR/panel.png
is copied to docs/img/panel.png. MEMWARDEN_PANEL_FRONT_END_ROOT=DIR: ComfyUI serves
the frontend in DIR (--front-end-root; scripts/test-panel sets it for
MEMWARDEN_PANEL_FRONTEND); MEMWARDEN_PANEL_FRONTEND: the version the page must run.

Needs node, playwright-core in target/panel-e2e/node_modules (scripts/test-panel
installs it) and Chromium (CHROMIUM, default /usr/bin/chromium). Exit status: that
of the browser test (0 passed, 1 a check failed), 2 when not set up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comfyui_e2e as e2e

NODE_MODULES = e2e.REPO / "target" / "panel-e2e" / "node_modules"


@contextmanager
def comfyui() -> Iterator[tuple[e2e.Comfy, subprocess.Popen[bytes]]]:
    """A running ComfyUI with this checkout's pack linked in; stopped and unlinked after."""
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", "")).expanduser().resolve()
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    problem, made_link = e2e.preflight(comfy_dir, python)
    if problem:
        raise SystemExit(f"SKIPPED: {problem}")
    signal.signal(signal.SIGTERM, e2e._terminate)
    link = comfy_dir / "custom_nodes" / e2e.LINK_NAME
    tmp = Path(tempfile.mkdtemp(prefix="memwarden-panel-"))
    try:
        if made_link:
            link.symlink_to(e2e.REPO, target_is_directory=True)
        e2e.write_models(python, tmp)
        for sub in ("input", "output", "temp"):
            (tmp / sub).mkdir()
        port = e2e.free_port()
        cmd = e2e.comfy_command(python, comfy_dir, tmp, port)
        front_end_root = os.environ.get("MEMWARDEN_PANEL_FRONT_END_ROOT")
        if front_end_root:
            cmd += ["--front-end-root", front_end_root]
        with open(tmp / "comfyui.log", "w") as log:
            server = subprocess.Popen(cmd, cwd=comfy_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                api = e2e.Comfy(f"http://127.0.0.1:{port}", port, tmp / "comfyui.log")
                e2e.wait_for_object_info(api, server)
                yield api, server
            finally:
                e2e.stop(server)
    finally:
        if made_link and link.is_symlink():
            link.unlink()
        shutil.rmtree(tmp, ignore_errors=True)


def node_env() -> dict[str, str]:
    return {**os.environ, "NODE_PATH": str(NODE_MODULES)}


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    out_dir = Path(args[0]).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with comfyui() as (api, _server):
        print(f"ComfyUI up on {api.base} in {time.monotonic() - started:.0f} s", flush=True)
        prompt = out_dir / "prompt.json"
        prompt.write_text(json.dumps(e2e.cleaner_prompt()))
        rc = subprocess.run(
            ["node", str(e2e.REPO / "tests" / "e2e" / "panel_e2e.mjs"), api.base, str(out_dir), str(prompt)],
            env=node_env(),
            check=False,
        ).returncode
        if rc != 0:
            print(f"--- ComfyUI log (tail) ---\n{api.log()[-4000:]}")
    print(f"screenshots in {out_dir}")
    if rc == 0 and "--readme-image" in args:
        target = e2e.REPO / "docs" / "img" / "panel.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out_dir / "panel.png", target)
        print(f"copied panel.png to {target}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
