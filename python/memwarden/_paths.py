"""Where memwarden keeps its files (the manager's and the guard's history, the
leak detector's history, what model loads took): the one definition.

Inside ComfyUI the node pack sets the folder (``<ComfyUI user directory>/memwarden``)
when it loads; elsewhere it is ``$XDG_STATE_HOME/memwarden`` (``~/.local/state``),
or ``%LOCALAPPDATA%\\memwarden`` on Windows, the folder ``memwarden history`` reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace

__all__ = ["history_path", "set_state_directory", "state_directory"]


class _Chosen:
    directory: Path | None = None


def set_state_directory(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` from now on (None: the default again)."""
    _Chosen.directory = Path(path) if path is not None else None


def state_directory() -> Path:
    """The folder chosen, else the core's default (the one ``memwarden history``
    reads), else ``~/.local/state/memwarden`` when no variable names a home."""
    if _Chosen.directory is not None:
        return _Chosen.directory
    found = _native.default_state_directory()
    return Path(found) if found is not None else Path.home() / ".local" / "state" / "memwarden"


def history_path() -> Path:
    """The manager's and the guard's history file."""
    return state_directory() / "history.jsonl"
