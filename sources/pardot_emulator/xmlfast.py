"""The XML fast path: opportunities rendered straight to text, without a node tree.

Pages of 200 full opportunities are the emulator's hot path (benchmarks pull 100,000+),
so XML is built with f-strings, and the immutable prospect and campaign fragments are
cached. It must produce byte for byte what :func:`render.xml_ok` makes of the
:mod:`views` tree; a test holds the two together.
"""

from .models import Opportunity, VisitorActivity
from .views import Views
from .xmltext import XML_DECLARATION, escape


def _text(tag: str, value: str) -> str:
    return f"<{tag}>{escape(value)}</{tag}>" if value else f"<{tag}/>"


def _int(tag: str, value: int | None) -> str:
    return f"<{tag}/>" if value is None else f"<{tag}>{value}</{tag}>"


class XmlRenderer:
    """Renders opportunities at every output level for one emulator."""

    def __init__(self, views: Views) -> None:
        self.views = views
        self.config = views.config
        self.store = views.store
        self.render_time = views.time.render
        self._campaigns: dict[int, str] = {}
        self._prospects: dict[int, str] = {}
        self._opportunities: dict[tuple[int, str, bool], str] | None = None
        if self.config.render_cache:
            self._opportunities = {}
            self.store.listeners.append(self._forget)

    def _forget(self, opportunity_id: int) -> None:
        cache = self._opportunities
        if cache is not None:
            for output in ("full", "simple", "mobile", "bulk"):
                for activities in (True, False):
                    cache.pop((opportunity_id, output, activities), None)

    def _time(self, tag: str, value: object) -> str:
        text = self.render_time(value)  # type: ignore[arg-type]
        return f"<{tag}>{text}</{tag}>" if text else f"<{tag}/>"

    def _campaign(self, campaign_id: int | None) -> str:
        if not campaign_id:
            return ""
        cached = self._campaigns.get(campaign_id)
        if cached is None:
            campaign = self.store.campaigns.get(campaign_id)
            if campaign is None:
                return ""
            cached = f"<campaign><id>{campaign.id}</id>{_text('name', campaign.name)}</campaign>"
            self._campaigns[campaign_id] = cached
        return cached

    def _prospect(self, prospect_id: int) -> str:
        cached = self._prospects.get(prospect_id)
        if cached is None:
            p = self.store.prospects[prospect_id]
            cached = (
                f"<prospect><id>{p.id}</id>{_text('first_name', p.first_name)}"
                f"{_text('last_name', p.last_name)}{_text('email', p.email)}"
                f"{_text('company', p.company)}</prospect>"
            )
            self._prospects[prospect_id] = cached
        return cached

    def activity(self, act: VisitorActivity) -> str:
        """One ``<visitor_activity>``."""
        optional = "".join(_int(k, v) for k, v in sorted(act.optional_ids.items()))
        t = self.render_time
        return (
            f"<visitor_activity><id>{act.id}</id>{_int('prospect_id', act.prospect_id)}"
            f"{_int('visitor_id', act.visitor_id)}<type>{act.type}</type>"
            f"{_text('type_name', act.type_name)}{_text('details', act.details)}{optional}"
            f"{self._campaign(act.campaign_id)}<created_at>{t(act.created_at)}</created_at>"
            f"<updated_at>{t(act.updated_at)}</updated_at>"
            f"<opportunity_id>{act.opportunity_id}</opportunity_id></visitor_activity>"
        )

    def opportunity(self, opp: Opportunity, output: str, activities: bool) -> str:
        """One ``<opportunity>`` at the given output level (cached if configured)."""
        cache = self._opportunities
        if cache is None:
            text = self._opportunity(opp, output, activities)
        else:
            key = (opp.id, output, activities)
            cached = cache.get(key)
            if cached is None:
                cached = cache[key] = self._opportunity(opp, output, activities)
            text = cached
        return self.views.overrides.apply_xml(opp.id, text)

    def _opportunity(self, opp: Opportunity, output: str, activities: bool) -> str:
        status = self.views.status(opp.status) or ""
        if output == "mobile":
            return (
                f"<opportunity><id>{opp.id}</id>{_text('name', opp.name)}"
                f"<value>{opp.value:.2f}</value><probability>{opp.probability}</probability>"
                f"{_text('stage', opp.stage)}{_text('status', status)}</opportunity>"
            )
        parts = [f"<opportunity><id>{opp.id}</id>"]
        if output == "bulk" or self.config.top_level_campaign_id:
            parts.append(_int("campaign_id", opp.campaign_id))
        parts.append(
            f"{_text('name', opp.name)}<value>{opp.value:.2f}</value>"
            f"<probability>{opp.probability}</probability>{_text('type', opp.type)}"
            f"{_text('stage', opp.stage)}{_text('status', status)}"
        )
        if opp.closed_at is not None or self.config.emit_empty_closed_at:
            parts.append(self._time("closed_at", opp.closed_at))
        parts.append(
            f"{self._time('created_at', opp.created_at)}{self._time('updated_at', opp.updated_at)}"
        )
        if output != "bulk":
            parts.append(self._campaign(opp.campaign_id))
            if opp.prospect_ids:
                links = "".join(self._prospect(p) for p in opp.prospect_ids)
                parts.append(f"<prospects>{links}</prospects>")
            else:
                parts.append("<prospects/>")
            if activities and output == "full":
                if opp.activities:
                    acts = "".join(self.activity(a) for a in opp.activities)
                    parts.append(f"<opportunity_activities>{acts}</opportunity_activities>")
                else:
                    parts.append("<opportunity_activities/>")
        parts.append("</opportunity>")
        return "".join(parts)

    def query(self, rows: list[Opportunity], total: int, output: str, activities: bool) -> bytes:
        """A whole query response."""
        body = "".join(self.opportunity(o, output, activities) for o in rows)
        head = "" if output == "bulk" else f"<total_results>{total}</total_results>"
        result = f"<result>{head}{body}</result>" if head or body else "<result/>"
        return f'{XML_DECLARATION}<rsp stat="ok" version="1.0">\n{result}\n</rsp>\n'.encode()

    def single(self, opp: Opportunity, output: str) -> bytes:
        """A read/create/update response."""
        text = self.opportunity(opp, output, True)
        return f'{XML_DECLARATION}<rsp stat="ok" version="1.0">\n{text}\n</rsp>\n'.encode()
