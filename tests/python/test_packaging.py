"""The version the node pack installs is the version this checkout builds.

ComfyUI-Manager and the Comfy Registry install a node pack by running ``pip install``
on each line of its requirements.txt, so that file pins the published wheel of this
very version: requirements.txt, pyproject.toml and the Rust workspace must agree.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")


def _toml(name: str) -> dict[str, object]:
    with open(ROOT / name, "rb") as f:
        data: dict[str, object] = tomllib.load(f)
    return data


def _table(data: dict[str, object], *keys: str) -> dict[str, object]:
    for key in keys:
        value = data[key]
        assert isinstance(value, dict), key
        data = value
    return data


def test_requirements_pin_this_version() -> None:
    python_version = _table(_toml("pyproject.toml"), "project")["version"]
    rust_version = _table(_toml("Cargo.toml"), "workspace", "package")["version"]
    assert python_version == rust_version
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines == [f"memwarden=={python_version}"]


def test_no_runtime_pip_install() -> None:
    """The node pack never installs packages itself (no pip run as a subprocess, no
    pip API): requirements.txt does it. Messages that tell the user what to run are fine."""
    pip_call = re.compile(r"""["']pip["']|\bpip\.main\b|\bpip\._internal\b|\bensurepip\b""")
    sources = [ROOT / "__init__.py", *sorted((ROOT / "python" / "memwarden").rglob("*.py"))]
    sources += [p for p in (ROOT / "install.py",) if p.exists()]  # run by ComfyUI-Manager
    for path in sources:
        assert not pip_call.search(path.read_text()), path
