"""The records the emulated account holds: campaigns, prospects, opportunities, activities.

Mutable slotted dataclasses; timestamps are aware UTC datetimes, empty text is ``""``.
Only :mod:`.store` changes them, under its lock.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Campaign:
    """A campaign; opportunities and activities point at one by id."""

    id: int
    name: str
    cost: float | None = None


@dataclass(slots=True)
class Prospect:
    """A prospect as it appears inside ``<prospects>``."""

    id: int
    first_name: str
    last_name: str
    email: str
    company: str


@dataclass(slots=True)
class VisitorActivity:
    """A visitor activity linked to one opportunity."""

    id: int
    opportunity_id: int
    prospect_id: int | None
    visitor_id: int | None
    type: int
    type_name: str
    details: str
    campaign_id: int | None
    created_at: datetime
    updated_at: datetime
    optional_ids: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Opportunity:
    """An opportunity with its links; ``deleted`` marks a soft delete."""

    id: int
    name: str
    value: float
    probability: int
    type: str
    stage: str
    status: str
    campaign_id: int | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted: bool = False
    previous_updated_at: datetime | None = None
    """``updated_at`` before its last change (None: never changed since created or
    generated); v5's cache lag serves it while the change is younger than the lag."""
    prospect_ids: list[int] = field(default_factory=list)
    activities: list[VisitorActivity] = field(default_factory=list)
