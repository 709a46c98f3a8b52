"""PyTorch allocator figures per device, when torch and a device are there."""

from __future__ import annotations

import sys
from typing import Any

from . import _native


def torch_module() -> Any | None:
    """torch if it is already imported or importable, else None.

    Inside ComfyUI torch is always imported; elsewhere importing it costs seconds,
    so callers that only want to *report* pass ``import_if_needed=False``.
    """
    return sys.modules.get("torch")


def torch_memory(import_if_needed: bool = True) -> list[dict[str, Any]]:
    """Per CUDA device: allocated, reserved, peak and driver free/total bytes.

    Returns an empty list when torch is missing or sees no CUDA device (the CPU
    allocator keeps no statistics).
    """
    import_if_needed = _native.check_flag("import_if_needed", import_if_needed)
    torch = torch_module()
    if torch is None and import_if_needed:
        try:
            import torch as _torch

            torch = _torch
        except ImportError:
            return []
    if torch is None or not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        out.append(
            {
                "device": i,
                "name": torch.cuda.get_device_name(i),
                "allocated_bytes": int(torch.cuda.memory_allocated(i)),
                "reserved_bytes": int(torch.cuda.memory_reserved(i)),
                "peak_allocated_bytes": int(torch.cuda.max_memory_allocated(i)),
                "peak_reserved_bytes": int(torch.cuda.max_memory_reserved(i)),
                "free_bytes": int(free),
                "total_bytes": int(total),
            }
        )
    return out
