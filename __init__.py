"""ComfyUI entry point: this repository cloned into ComfyUI/custom_nodes/.

The nodes live in the ``memwarden`` package, installed from this folder with
``python -m pip install .`` by the Python that runs ComfyUI (it builds the Rust core,
so it needs a Rust toolchain: cargo, from https://rustup.rs); this file only hands
them to ComfyUI.
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
        f"ComfyUI. In this folder ({os.path.dirname(os.path.abspath(__file__))}) run "
        f'`"{sys.executable}" -m pip install .` with this same Python; it builds the Rust core, so it '
        "needs a Rust toolchain (cargo, from https://rustup.rs). Then restart ComfyUI. "
        f"({type(e).__name__}: {e})"
    ) from e

NODE_CLASS_MAPPINGS = _nodes.NODE_CLASS_MAPPINGS
NODE_DISPLAY_NAME_MAPPINGS = _nodes.NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
