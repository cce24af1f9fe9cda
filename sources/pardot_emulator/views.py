"""What each output level shows of an opportunity, as a neutral element tree.

A node is ``(tag, content)``: content is a list of child nodes (an element with
children; an empty list is an empty container like ``<prospects/>``) or a typed leaf
(``str``, ``int``, ``float`` for money, ``None`` for an empty element). The XML and
JSON renderers turn the same tree into bytes, so both formats always agree.
"""

from .clock import AccountTime
from .config import EmulatorConfig
from .models import Opportunity, VisitorActivity
from .overrides import FieldOverrides
from .store import DataStore

Leaf = str | int | float | None
Node = tuple[str, Leaf | list["Node"]]

OUTPUTS = ("full", "simple", "mobile", "bulk")


def _text(value: str) -> str | None:
    return value or None


def _cost(cost: float | None) -> int | float | None:
    """A campaign's cost: a whole number as an integer (Pardot's type), else money."""
    if cost is not None and float(cost).is_integer():
        return int(cost)
    return cost


class Views:
    """Builds response trees from the store's records for one emulator configuration."""

    def __init__(self, config: EmulatorConfig, store: DataStore, time: AccountTime) -> None:
        self.config = config
        self.store = store
        self.time = time
        self.overrides = FieldOverrides()
        """Test control: raw texts shown instead of some fields' values."""

    def status(self, status: str) -> str | None:
        """The status as this account renders it (``open`` or ``Open``)."""
        if not status:
            return None
        return status.capitalize() if self.config.status_case == "capitalized" else status

    def opportunity(self, opp: Opportunity, output: str, activities: bool) -> Node:
        """One ``<opportunity>`` at the given output level."""
        tag, children = self._opportunity(opp, output, activities)
        overrides = self.overrides.get(opp.id)
        if overrides and isinstance(children, list):
            shown: list[Node] = []
            for child_tag, content in children:
                if child_tag in overrides:
                    content = overrides.pop(child_tag) or None
                shown.append((child_tag, content))
            # Fields this rendering lacks go right after <id>, as in the XML path.
            shown[1:1] = [(name, text or None) for name, text in overrides.items()]
            children = shown
        return (tag, children)

    def _opportunity(self, opp: Opportunity, output: str, activities: bool) -> Node:
        render = self.time.render
        if output == "mobile":
            return (
                "opportunity",
                [
                    ("id", opp.id),
                    ("name", _text(opp.name)),
                    ("value", opp.value),
                    ("probability", opp.probability),
                    ("stage", _text(opp.stage)),
                    ("status", self.status(opp.status)),
                ],
            )
        children: list[Node] = [("id", opp.id)]
        if output == "bulk" or self.config.top_level_campaign_id:
            children.append(("campaign_id", opp.campaign_id))
        children += [
            ("name", _text(opp.name)),
            ("value", opp.value),
            ("probability", opp.probability),
            ("type", _text(opp.type)),
            ("stage", _text(opp.stage)),
            ("status", self.status(opp.status)),
        ]
        if opp.closed_at is not None or self.config.emit_empty_closed_at:
            children.append(("closed_at", render(opp.closed_at)))
        children += [("created_at", render(opp.created_at)), ("updated_at", render(opp.updated_at))]
        if output == "bulk":
            return ("opportunity", children)
        campaign = self.store.campaigns.get(opp.campaign_id) if opp.campaign_id else None
        if campaign is not None:
            children.append(("campaign", [("id", campaign.id), ("name", _text(campaign.name))]))
        prospects = self.store.prospects
        children.append(
            (
                "prospects",
                [
                    (
                        "prospect",
                        [
                            ("id", p.id),
                            ("first_name", _text(p.first_name)),
                            ("last_name", _text(p.last_name)),
                            ("email", _text(p.email)),
                            ("company", _text(p.company)),
                        ],
                    )
                    for p in (prospects[pid] for pid in opp.prospect_ids)
                ],
            )
        )
        if activities and output == "full":
            children.append(("opportunity_activities", [self.activity(a) for a in opp.activities]))
        return ("opportunity", children)

    def activity(
        self,
        act: VisitorActivity,
        *,
        tag: str = "visitor_activity",
        opportunity_id: bool = True,
        campaign_cost: bool = False,
    ) -> Node:
        """One visitor activity with its nested campaign.

        The defaults are the ``<visitor_activity>`` inside ``<opportunity_activities>``;
        :meth:`query_activity` is the element of the visitor activity query.
        """
        render = self.time.render
        children: list[Node] = [
            ("id", act.id),
            ("prospect_id", act.prospect_id),
            ("visitor_id", act.visitor_id),
            ("type", act.type),
            ("type_name", _text(act.type_name)),
            ("details", _text(act.details)),
        ]
        children += sorted(act.optional_ids.items())
        campaign = self.store.campaigns.get(act.campaign_id) if act.campaign_id else None
        if campaign is not None:
            fields: list[Node] = [("id", campaign.id), ("name", _text(campaign.name))]
            if campaign_cost:
                fields.append(("cost", _cost(campaign.cost)))
            children.append(("campaign", fields))
        children += [
            ("created_at", render(act.created_at)),
            ("updated_at", render(act.updated_at)),
        ]
        if opportunity_id:
            children.append(("opportunity_id", act.opportunity_id))
        return (tag, children)

    def query_activity(self, act: VisitorActivity) -> Node:
        """One activity as the visitor activity query renders it (the config's element
        name, the campaign's cost, ``<opportunity_id>`` unless switched off)."""
        return self.activity(
            act,
            tag=self.config.visitor_activity_element,
            opportunity_id=self.config.visitor_activity_opportunity_id,
            campaign_cost=True,
        )

    def activity_query_result(self, acts: list[VisitorActivity], total: int) -> Node:
        """The ``<result>`` of a visitor activity query: every match counted."""
        return ("result", [("total_results", total), *(self.query_activity(a) for a in acts)])

    def query_result(
        self, opps: list[Opportunity], total: int, output: str, activities: bool
    ) -> Node:
        """The ``<result>`` of a query (no ``total_results`` under bulk)."""
        rows: list[Node] = [self.opportunity(o, output, activities) for o in opps]
        if output != "bulk":
            rows.insert(0, ("total_results", total))
        return ("result", rows)
