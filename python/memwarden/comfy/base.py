"""What every memwarden node shares: the base class, the wildcard type, the input
checks (each raises InvalidInput naming the input) and how a node logs and returns
its report. The node modules (:mod:`.nodes`, :mod:`.manager_nodes`,
:mod:`.leak_nodes`) build on it; the package face (``memwarden.comfy``) assembles
the registry ComfyUI reads."""

from __future__ import annotations

import logging
from typing import Any

from .. import _native
from .._native import Snapshot

log = logging.getLogger("memwarden")

CATEGORY = "memwarden"


class AnyType(str):
    """ComfyUI type that matches every other type (the usual ``*`` wildcard)."""

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


ANY = AnyType("*")


def _status(snap: Snapshot) -> tuple[str, float, float]:
    """The status line with RAM and VRAM percent as the core defines them (effective
    RAM, the fullest GPU's VRAM), from one snapshot; VRAM 0.0 when no GPU is visible."""
    st = snap.status()
    return st.status, st.ram_percent, 0.0 if st.vram_percent is None else st.vram_percent


def _emit(node: str, status: str, report: str) -> None:
    log.info("[memwarden] %s: %s", node, status)
    for line in report.splitlines():
        log.info("[memwarden]   %s", line)


def _out(report: str, *result: Any) -> dict[str, Any]:
    """Outputs plus the report as UI text: shown on the node in the browser and
    recorded in ComfyUI's /history."""
    return {"ui": {"text": [report]}, "result": result}


# Input checks: each raises memwarden.InvalidInput (kind "invalid_input", exit_code
# 2) naming the input, before the node does anything. The checks themselves live in
# the native module, with those of the Python API.


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    return _native.check_number(name, value, lo, hi)


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    return _native.check_int(name, value, lo, hi)


def _flags(**values: Any) -> None:
    for name, value in values.items():
        _native.check_flag(name, value)


def _choice(name: str, value: Any, choices: list[str]) -> str:
    return _native.check_choice(name, value, choices)


class MemwardenNode:
    """What every memwarden node shares: the entry point, the category, being an
    output node (so it runs even with nothing wired after it) and always
    re-executing (NaN never equals the cached value)."""

    FUNCTION = "run"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True

    @classmethod
    def IS_CHANGED(cls, **_: Any) -> float:
        return float("nan")
