"""Where memwarden keeps its files (the manager's and the guard's history, the
leak detector's history, what model loads took): the one definition.

Inside ComfyUI the node pack sets the folder (``<ComfyUI user directory>/memwarden``)
when it loads; elsewhere it is ``$XDG_STATE_HOME/memwarden`` (``~/.local/state``),
or ``%LOCALAPPDATA%\\memwarden`` on Windows, the folder ``memwarden history`` reads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["history_path", "set_state_directory", "state_directory"]


class _Chosen:
    directory: Path | None = None


def set_state_directory(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` from now on (None: the default again)."""
    _Chosen.directory = Path(path) if path is not None else None


def state_directory() -> Path:
    if _Chosen.directory is not None:
        return _Chosen.directory
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "memwarden"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "memwarden"


def history_path() -> Path:
    """The manager's and the guard's history file."""
    return state_directory() / "history.jsonl"
