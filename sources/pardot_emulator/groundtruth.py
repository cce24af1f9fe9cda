"""What the server holds, in the shape of the connector's warehouse tables.

Timestamps as UTC ISO-8601 strings, empty strings as ``None``, status lower case: the
values a correct sync must end up with in the warehouse.
"""

from typing import Any

from .clock import utc_iso
from .store import DataStore


def _none(text: str) -> str | None:
    return text or None


def ground_truth(store: DataStore) -> dict[str, Any]:
    """The whole account as five JSON-serialisable tables (call takes the store lock)."""
    with store.lock:
        opportunities: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        activities: list[dict[str, Any]] = []
        for o in store.iter_all():
            opportunities.append(
                {
                    "id": o.id,
                    "name": _none(o.name),
                    "value": float(o.value),
                    "probability": o.probability,
                    "type": _none(o.type),
                    "stage": _none(o.stage),
                    "status": _none(o.status.lower()),
                    "campaign_id": o.campaign_id,
                    "closed_at": utc_iso(o.closed_at),
                    "created_at": utc_iso(o.created_at),
                    "updated_at": utc_iso(o.updated_at),
                    "is_deleted": o.deleted,
                }
            )
            links += [{"opportunity_id": o.id, "prospect_id": p} for p in o.prospect_ids]
            for a in o.activities:
                row: dict[str, Any] = {
                    "id": a.id,
                    "opportunity_id": a.opportunity_id,
                    "prospect_id": a.prospect_id,
                    "visitor_id": a.visitor_id,
                    "type": a.type,
                    "type_name": _none(a.type_name),
                    "details": _none(a.details),
                    "campaign_id": a.campaign_id,
                    "created_at": utc_iso(a.created_at),
                    "updated_at": utc_iso(a.updated_at),
                }
                row.update(a.optional_ids)
                activities.append(row)
        activities.sort(key=lambda r: r["id"])
        return {
            "opportunities": opportunities,
            "campaigns": [
                {"id": c.id, "name": _none(c.name), "cost": c.cost}
                for c in sorted(store.campaigns.values(), key=lambda c: c.id)
            ],
            "prospects": [
                {
                    "id": p.id,
                    "first_name": _none(p.first_name),
                    "last_name": _none(p.last_name),
                    "email": _none(p.email),
                    "company": _none(p.company),
                }
                for p in sorted(store.prospects.values(), key=lambda p: p.id)
            ],
            "opportunity_prospects": links,
            "visitor_activities": activities,
        }
