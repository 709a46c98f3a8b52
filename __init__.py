"""ComfyUI entry point: this repository cloned into ComfyUI/custom_nodes/.

The nodes live in the installed ``memwarden`` package (``pip install .`` here, or
``pip install memwarden``); this file only hands them to ComfyUI.
"""

import importlib
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
        "ComfyUI. Run `pip install .` in this folder (builds the Rust core; needs cargo) or "
        f"`pip install memwarden`. ({e})"
    ) from e

NODE_CLASS_MAPPINGS = _nodes.NODE_CLASS_MAPPINGS
NODE_DISPLAY_NAME_MAPPINGS = _nodes.NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
