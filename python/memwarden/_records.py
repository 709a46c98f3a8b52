"""Dict records with attribute access, for reports that arrive as JSON."""

from __future__ import annotations

import json
from typing import Any


class Record(dict):  # type: ignore[type-arg]
    """A JSON object from the core: a plain ``dict`` that also allows ``r.field``.

    Nested objects are Records and lists of objects are lists of Records, so
    ``snap.system.total_bytes`` and ``snap["system"]["total_bytes"]`` both work.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> dict[str, Any]:
        """A deep copy made of plain dicts and lists (JSON-compatible)."""
        return json.loads(json.dumps(self))  # type: ignore[no-any-return]


def _hook(obj: dict[str, Any]) -> Record:
    return Record(obj)


def loads(text: str) -> Record:
    """Parse core JSON into Records."""
    return json.loads(text, object_hook=_hook)  # type: ignore[no-any-return]
