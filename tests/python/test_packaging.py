"""What the node pack's install files say agrees with what can be installed.

ComfyUI-Manager and the Comfy Registry install a node pack by running ``pip install``
on each line of its requirements.txt. memwarden is not on PyPI yet, so the file names
no package (a pin would make every Manager install fail; tests/e2e/install_e2e.py runs
it in both ComfyUI generations). Once the release workflow has published a version,
requirements.txt pins exactly that version and this test says so.
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


def test_versions_agree_and_requirements_name_no_unpublished_package() -> None:
    python_version = _table(_toml("pyproject.toml"), "project")["version"]
    rust_version = _table(_toml("Cargo.toml"), "workspace", "package")["version"]
    assert python_version == rust_version
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    # Not published yet: no line. After the first release: [f"memwarden=={python_version}"].
    assert lines == [], f"requirements.txt pins {lines}: is memwarden {python_version} on PyPI now? expect that pin"


def test_no_address_named_as_the_projects_home() -> None:
    """The package metadata names no repository address: the project has none yet."""
    assert "urls" not in _table(_toml("pyproject.toml"), "project")
    assert "repository" not in _table(_toml("Cargo.toml"), "workspace", "package")


def test_no_runtime_pip_install() -> None:
    """The node pack never installs packages itself (no pip run as a subprocess, no
    pip API): requirements.txt does it. Messages that tell the user what to run are fine."""
    pip_call = re.compile(r"""["']pip["']|\bpip\.main\b|\bpip\._internal\b|\bensurepip\b""")
    sources = [ROOT / "__init__.py", *sorted((ROOT / "python" / "memwarden").rglob("*.py"))]
    sources += [p for p in (ROOT / "install.py",) if p.exists()]  # run by ComfyUI-Manager
    for path in sources:
        assert not pip_call.search(path.read_text()), path


def test_the_pack_loads_without_comfyuis_server_modules() -> None:
    """The pack's __init__.py loads where aiohttp (ComfyUI's web server) is missing, as
    in a plain venv with only the wheel: the routes import it only when they answer."""
    import subprocess
    import sys

    code = (
        "import sys, importlib.util\n"
        "sys.modules['aiohttp'] = None\n"
        f"spec = importlib.util.spec_from_file_location('pack', {str(ROOT / '__init__.py')!r},"
        f" submodule_search_locations=[{str(ROOT)!r}])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['pack'] = m; spec.loader.exec_module(m)\n"
        "print(sorted(m.NODE_CLASS_MAPPINGS), m.WEB_DIRECTORY)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    for node in ("MemoryCleanerForce", "MemoryLeakDetector", "AutoMemoryCleanup", "SmartMemoryManager"):
        assert repr(node) in out.stdout, out.stdout
    assert out.stdout.strip().endswith("./web"), out.stdout
