"""Every visitor activity of the account, indexed by id and by type for the query.

Activities are never deleted (not even with their opportunity) and never change, and a
new one always takes the next id of one account-wide counter, so the id-sorted lists
only ever grow at their end. The query answers an id range, alone or with a ``type``
list, by bisection: keyset paging by id costs O(page), not O(activities).
"""

import bisect
from collections.abc import Iterable

from .models import VisitorActivity


class ActivityIndex:
    """Id-sorted lists of all activities and of each type's; changed under the store lock."""

    def __init__(self, activities: Iterable[VisitorActivity]) -> None:
        ordered = sorted(activities, key=lambda a: a.id)
        self.ids: list[int] = [a.id for a in ordered]
        self.by_id: dict[int, VisitorActivity] = {a.id: a for a in ordered}
        self.ids_by_type: dict[int, list[int]] = {}
        for act in ordered:
            self.ids_by_type.setdefault(act.type, []).append(act.id)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def last_id(self) -> int | None:
        """The largest activity id so far."""
        return self.ids[-1] if self.ids else None

    def add(self, act: VisitorActivity) -> None:
        """Index one new activity (its id and type are final)."""
        if act.id in self.by_id:
            raise ValueError(f"visitor activity {act.id} exists")
        self.by_id[act.id] = act
        _insert(self.ids, act.id)
        _insert(self.ids_by_type.setdefault(act.type, []), act.id)


def _insert(ids: list[int], value: int) -> None:
    if not ids or ids[-1] < value:
        ids.append(value)
    else:
        bisect.insort(ids, value)
