"""ComfyUI entry point: this repository cloned into ComfyUI/custom_nodes/.

The nodes live in the ``memwarden`` package, a prebuilt wheel from PyPI installed
into the Python that runs ComfyUI: ComfyUI-Manager and the Comfy Registry do it from
requirements.txt, or ``python -m pip install memwarden`` by hand. This file only
hands the nodes to ComfyUI.
"""

import importlib
import os
import sys

if __name__ == "memwarden":
    # Cloned as custom_nodes/memwarden: ComfyUI registered this file under the
    # package's own name. Step aside so the installed package can be imported.
    del sys.modules[__name__]

try:
    _nodes = importlib.import_module("memwarden.comfy")
except ImportError as e:
    raise ImportError(
        "memwarden node pack: the memwarden Python package is not installed in the Python that runs "
        "ComfyUI. Install it without a compiler: with ComfyUI-Manager (install or fix this node pack, "
        f'which installs its requirements.txt), or run `"{sys.executable}" -m pip install memwarden` '
        "(this is the Python that runs ComfyUI: python_embeded\\python.exe on the Windows portable "
        "build). Then restart ComfyUI. To build it from source instead, run "
        f'`"{sys.executable}" -m pip install .` in this folder ({os.path.dirname(os.path.abspath(__file__))}); '
        f"that needs a Rust toolchain (cargo, from https://rustup.rs). ({type(e).__name__}: {e})"
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
