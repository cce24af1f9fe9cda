"""Rendering overrides: show one field of one opportunity as a given raw text.

A test control, not a data change: the store (and so the ground truth) keeps the real
value, ``updated_at`` does not move, and only what the API renders differs. It lets a
test serve a value Pardot's validation would never accept on a write (a ``value`` of
``abc``, a probability of 150, a date that does not parse) and then "fix" the data by
clearing the override. With no override set, rendering is byte for byte unchanged.
"""

import re
import threading

from .xmltext import escape


class FieldOverrides:
    """Per-opportunity raw texts for top-level fields; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: dict[int, dict[str, str]] = {}
        self.generation = 0
        """Moves on with every set or clear (cache invalidation)."""

    def set(self, opportunity_id: int, field: str, text: str) -> None:
        """Render ``field`` of ``opportunity_id`` as ``text`` (escaped; "" is empty)."""
        if not re.fullmatch(r"[a-z_]+", field) or field == "id":
            raise ValueError(f"cannot override field {field!r}")
        with self._lock:
            self._texts.setdefault(opportunity_id, {})[field] = text
            self.generation += 1

    def clear(self, opportunity_id: int | None = None) -> None:
        """Forget the overrides of one opportunity, or of all."""
        with self._lock:
            if opportunity_id is None:
                self._texts.clear()
            else:
                self._texts.pop(opportunity_id, None)
            self.generation += 1

    def get(self, opportunity_id: int) -> dict[str, str]:
        """A copy of the overrides of one opportunity (empty when none)."""
        if not self._texts:  # the hot path: no override anywhere
            return {}
        with self._lock:
            return dict(self._texts.get(opportunity_id, {}))

    def apply_xml(self, opportunity_id: int, text: str) -> str:
        """Rewrite the top-level elements of one rendered ``<opportunity>``.

        Top-level leaves come before the nested containers in every output level, so
        the first element of a name is the opportunity's own. A field the rendering
        lacks (e.g. no ``<closed_at/>``) is inserted after ``<id>``.
        """
        for field, value in self.get(opportunity_id).items():
            element = f"<{field}>{escape(value)}</{field}>" if value else f"<{field}/>"
            pattern = re.compile(rf"<{field}>[^<]*</{field}>|<{field}/>")
            text, replaced = pattern.subn(element.replace("\\", "\\\\"), text, count=1)
            if not replaced:
                head = f"<id>{opportunity_id}</id>"
                text = text.replace(head, head + element, 1)
        return text
