"""PyTorch allocator figures per device, when torch and a device are there; and
:func:`loaded_torch`, the one way the package finds torch."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace


def loaded_torch() -> Any | None:
    """torch if this process has already imported it, else None.

    Inside ComfyUI torch is always imported; elsewhere importing it would cost
    seconds and memory in processes that never use it, so nothing in the package
    imports it on its own (except :func:`torch_memory` when asked to)."""
    return sys.modules.get("torch")


@dataclass(frozen=True)
class TorchDeviceMemory:
    """One CUDA device as PyTorch's caching allocator and the driver see it (bytes)."""

    device: int
    name: str
    allocated_bytes: int
    reserved_bytes: int
    peak_allocated_bytes: int
    peak_reserved_bytes: int
    free_bytes: int
    total_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def torch_memory(import_if_needed: bool = True) -> list[TorchDeviceMemory]:
    """Per CUDA device: allocated, reserved, peak and driver free/total bytes.

    Returns an empty list when torch is missing or sees no CUDA device (the CPU
    allocator keeps no statistics)."""
    import_if_needed = _native.check_flag("import_if_needed", import_if_needed)
    torch = loaded_torch()
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
            TorchDeviceMemory(
                device=i,
                name=str(torch.cuda.get_device_name(i)),
                allocated_bytes=int(torch.cuda.memory_allocated(i)),
                reserved_bytes=int(torch.cuda.memory_reserved(i)),
                peak_allocated_bytes=int(torch.cuda.max_memory_allocated(i)),
                peak_reserved_bytes=int(torch.cuda.max_memory_reserved(i)),
                free_bytes=int(free),
                total_bytes=int(total),
            )
        )
    return out
