"""ComfyUI entry point: this repository cloned into ComfyUI/custom_nodes/.

The nodes live in the ``memwarden`` package, installed into the Python that runs
ComfyUI: built from this folder (needs a Rust toolchain) or from a wheel file
installed by its path. memwarden is not on PyPI yet, so requirements.txt names no
package and ComfyUI-Manager installs nothing: when the package is missing, the
ImportError below says how to install it, and ComfyUI starts without the pack.
This file only hands the nodes to ComfyUI.
"""

import importlib
import os
import sys

if __name__ == "memwarden":
    # Cloned as custom_nodes/memwarden: ComfyUI registered this file under the
    # package's own name. Step aside so the installed package can be imported.
    del sys.modules[__name__]

_HERE = os.path.dirname(os.path.abspath(__file__))
try:
    _nodes = importlib.import_module("memwarden.comfy")
except ImportError as e:
    if e.name not in ("memwarden", "memwarden.comfy"):
        raise ImportError(
            "memwarden node pack: the memwarden package is installed in the Python that runs ComfyUI "
            f"({sys.executable}) but importing its nodes failed; reinstall it (see the README of {_HERE}). "
            f"({type(e).__name__}: {e})"
        ) from e
    raise ImportError(
        "memwarden node pack: the memwarden Python package is not installed in the Python that runs "
        f"ComfyUI ({sys.executable}), so the pack's nodes and panel are not loaded. memwarden is not "
        "published on PyPI yet, so ComfyUI-Manager cannot install it (requirements.txt names no package). "
        f'Install a memwarden wheel by its path: `"{sys.executable}" -m pip install '
        "/path/to/memwarden-<version>-cp39-abi3-<platform>.whl` (built by scripts/test-wheels, or by the "
        "release workflow); or build it from this folder, which needs a Rust toolchain (cargo, from "
        f'https://rustup.rs): `"{sys.executable}" -m pip install "{_HERE}"`. '
        "Then restart ComfyUI. "
        f"({type(e).__name__}: {e})"
    ) from e

NODE_CLASS_MAPPINGS = _nodes.NODE_CLASS_MAPPINGS
NODE_DISPLAY_NAME_MAPPINGS = _nodes.NODE_DISPLAY_NAME_MAPPINGS
# The memory panel: web/ is served under /extensions/<this folder>/; its routes and
# live feed are added to ComfyUI's server (memwarden.comfy.routes).
WEB_DIRECTORY = "./web"
importlib.import_module("memwarden.comfy.routes").register()
# GET /memwarden/metrics on ComfyUI's server: Prometheus text (memwarden.comfy.metrics_route).
importlib.import_module("memwarden.comfy.metrics_route").register()
# The panel's "last cleanups" and "leak detector" sections and the metrics' activity
# series, from the manager's history, the panel's cleanups and the leak detector.
importlib.import_module("memwarden.comfy.activity").register()
# The headroom guard, on from the start with no node in any workflow: it gives back
# cached models before the container's limit is reached and refuses a model load
# that cannot fit (memwarden.comfy.host; off with the setting or MEMWARDEN_GUARD=0).
importlib.import_module("memwarden.comfy.host").start_pack()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
