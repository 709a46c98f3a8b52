"""Runs tests/e2e/leak_e2e.py (the Memory Leak Detector in a real ComfyUI) when
COMFYUI_DIR names a ComfyUI checkout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT


def test_leak_detector_in_a_real_comfyui() -> None:
    comfy = os.environ.get("COMFYUI_DIR")
    if not comfy:
        pytest.skip("COMFYUI_DIR is not set: no ComfyUI checkout here, the leak end-to-end test did not run")
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "e2e" / "leak_e2e.py")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "COMFYUI_PYTHON": os.environ.get("COMFYUI_PYTHON", sys.executable)},
    )
    print(out.stdout[-8000:])
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-4000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("leak e2e:") and last.endswith(" 0 failed"), last
