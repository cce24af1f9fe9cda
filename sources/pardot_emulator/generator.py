"""Deterministic synthetic data: campaigns, prospects, opportunities and their activities.

Everything comes from one ``random.Random(seed)``: the same config gives the same account.
Opportunity ids grow with ``created_at`` (with random gaps), creation times come in bursts
that share a second, and the history spans the DST changes before the clock start.
"""

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from .models import Campaign, Opportunity, Prospect, VisitorActivity

FIRST_NAMES = (
    "Angela", "José", "Zoë", "Björn", "Chloé", "Li", "Ana María", "D'Arcy", "Øystein",
    "Nguyễn", "Siobhán", "Émile", "Jürgen", "Amélie", "Ólafur", "Priya", "Kwame", "Sven",
    "Hana", "John", "Mary", "Ahmed", "Łukasz", "Renée",
)  # fmt: skip
LAST_NAMES = (
    "Lansbury", "O'Connor", "Müller", "García", "Smith & Sons", "Åberg", "Żółć", "Dupont",
    "van der Berg", "Nakamura", "Ng", "Brown", "Kowalski", "Ødegaard", "<Unknown>",
    'Johnson "JJ"', "Papadopoulos", "Li", "Nguyen", "Schäfer",
)  # fmt: skip
COMPANIES = (
    "AT&T", "Ben & Jerry's", "Acme <Widgets>", 'The "Best" Co', "Müller GmbH", "CBS",
    "Société Générale", "日本電気", "Initech", "Globex & Co.", "O'Reilly Media", "Umbrella",
    "", "Stark Industries", "Wayne <Enterprises> & Partners",
)  # fmt: skip
CAMPAIGN_NAMES = (
    "Google Buyer's Guide Campaign", "Spring Promo & Giveaway", "Webinar <Live>",
    'Trade Show "Expo" 2023', "Newsletter \u2013 Ünïcödé", "Retargeting 🚀", "Partner Referral",
    "Cold Outreach", "Holiday Sale 50% off", "Ebook: A < B & C > D", "Événement Paris",
    "東京 Seminar", "Product Launch", "Customer Advocacy", "Paid Search", "LinkedIn Ads",
    "Direct Mail", "Podcast Sponsorship", "Free Trial", "Re-engagement 'Q4'",
)  # fmt: skip
TYPES = ("New Business", "Existing Business", "Renewal", "Upsell", "Cross-sell & Add-on", "")
STAGES = (
    "Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
    "Negotiation/Review", "Closed Won", "Closed Lost", "",
)  # fmt: skip
ACTIVITY_TYPES = (
    (8, "New Opportunity"),
    (9, "Opportunity Won"),
    (10, "Opportunity Lost"),
    (18, "Opportunity Reopened"),
    (19, "Opportunity Associated"),
    (38, "Opportunity Unlinked"),
)
OPTIONAL_ID_FIELDS = ("email_id", "form_id", "landing_page_id", "list_email_id", "file_id")
VALUES = (100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0, 100000.0)

FIRST_OPPORTUNITY_ID = 1001
FIRST_PROSPECT_ID = 20001
FIRST_ACTIVITY_ID = 500001
FIRST_VISITOR_ID = 9000001


T = TypeVar("T")


def _pick(seq: Sequence[T], r: Callable[[], float]) -> T:
    return seq[int(r() * len(seq))]


def _dst_instants(tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Instants inside each repeated (fall-back) hour and next to each skipped hour."""
    out: list[datetime] = []
    step = timedelta(hours=1)
    t = start.replace(minute=0, second=0, microsecond=0)
    previous = t.astimezone(tz).utcoffset()
    while t < end:
        t += step
        offset = t.astimezone(tz).utcoffset()
        if offset != previous:
            # Just before and after the change: for a fall-back both are in the
            # repeated local hour; for a spring-forward they straddle the gap.
            out += [t - timedelta(minutes=30), t + timedelta(minutes=30, seconds=1)]
            previous = offset
    return out


class Generator:
    """Holds the random stream and the id counters used for generated and new records."""

    def __init__(
        self, seed: int, tz: ZoneInfo, id_gap: int, id_jump: tuple[int, int] | None = None
    ) -> None:
        self.rng = random.Random(seed)
        self.tz = tz
        self.id_gap = id_gap
        self.id_jump = id_jump
        self.opportunity_ids = 0
        """Opportunity ids handed out so far."""
        self.next_opportunity_id = FIRST_OPPORTUNITY_ID
        self.next_activity_id = FIRST_ACTIVITY_ID
        self.campaigns: list[Campaign] = []
        self.prospects: list[Prospect] = []

    def make_campaigns(self) -> list[Campaign]:
        """About twenty campaigns, some with a cost."""
        rng = self.rng
        self.campaigns = [
            Campaign(
                id=11 + 7 * i,
                name=name,
                cost=float(rng.choice((100, 250, 1999, 5000))) if rng.random() < 0.5 else None,
            )
            for i, name in enumerate(CAMPAIGN_NAMES)
        ]
        return self.campaigns

    def make_prospects(self, count: int) -> list[Prospect]:
        """``count`` prospects; a few share an email address (the v4 case)."""
        rng = self.rng
        out: list[Prospect] = []
        for i in range(count):
            pid = FIRST_PROSPECT_ID + i
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"prospect{pid}@example{i % 7}.com"
            if out and rng.random() < 0.02:
                email = rng.choice(out).email
            out.append(Prospect(pid, first, last, email, rng.choice(COMPANIES)))
        self.prospects = out
        return out

    def history_times(self, count: int, end: datetime, days: int) -> list[datetime]:
        """``count`` sorted creation instants over ``days`` before ``end``, in bursts."""
        rng = self.rng
        start = end - timedelta(days=days)
        special = _dst_instants(self.tz, start, end) if count >= 100 else []
        regular = count - len(special)
        gaps = [0.0 if rng.random() < 0.3 else rng.expovariate(1.0) for _ in range(regular)]
        total = sum(gaps) or 1.0
        span = (end - start).total_seconds()
        t = 0.0
        times: list[datetime] = []
        for gap in gaps:
            t += gap * span / total
            times.append(start + timedelta(seconds=int(min(t, span))))
        times += [s.replace(microsecond=0) for s in special]
        times.sort()
        return times

    def new_opportunity_id(self) -> int:
        """The next opportunity id, ``id_gap`` permitting a random jump (and ``id_jump``
        one far jump)."""
        oid = self.next_opportunity_id
        step = 1 if self.id_gap == 1 else self.rng.randint(1, self.id_gap)
        self.opportunity_ids += 1
        if self.id_jump is not None and self.opportunity_ids == self.id_jump[0]:
            step += self.id_jump[1]
        self.next_opportunity_id = oid + step
        return oid

    def new_activity_id(self) -> int:
        """The next visitor-activity id."""
        aid = self.next_activity_id
        self.next_activity_id += 1
        return aid

    def make_opportunity(
        self,
        created_at: datetime,
        now: datetime,
        *,
        prospects: int | None = None,
        activities: int | None = None,
    ) -> Opportunity:
        """One random opportunity created at ``created_at``, updated no later than ``now``."""
        # rng.random() and indexing instead of choice()/randint(): about 3x faster, and
        # 100,000 opportunities must generate in a few seconds.
        r = self.rng.random
        oid = self.new_opportunity_id()
        x = r()
        status = "open" if x < 0.55 else "won" if x < 0.8 else "lost" if x < 0.95 else ""
        probability = {"won": 100, "lost": 0}.get(status, int(r() * 101))
        room = max(0, int((now - created_at).total_seconds()) - 1)
        updated = created_at + timedelta(seconds=int(r() * min(room, 30 * 86400)))
        closed = None
        if status in ("won", "lost") and r() < 0.7:
            closed = created_at + timedelta(seconds=int(r() * room))
        company = _pick(COMPANIES, r) or "Independent"
        value = _pick(VALUES, r) * _pick((1, 1, 1, 1.5, 0.37), r)
        campaigns = self.campaigns
        opp = Opportunity(
            id=oid,
            name=f"{company} \u2013 {_pick(('Deal', 'Renewal', 'Pilot'), r)} #{oid}",
            value=round(value, 2),
            probability=probability,
            type=_pick(TYPES, r),
            stage=_pick(STAGES, r),
            status=status,
            campaign_id=_pick(campaigns, r).id if campaigns else None,
            closed_at=closed,
            created_at=created_at,
            updated_at=updated,
        )
        n_prospects = _pick((0, 1, 1, 1, 2, 3), r) if prospects is None else prospects
        pool = self.prospects
        if pool and n_prospects:
            picked = {_pick(pool, r).id for _ in range(min(n_prospects, len(pool)))}
            opp.prospect_ids = sorted(picked)
        n_activities = int(r() * 7) if activities is None else activities
        for _ in range(n_activities):
            opp.activities.append(self.make_activity(opp, created_at, updated))
        return opp

    def make_activity(
        self, opp: Opportunity, earliest: datetime, latest: datetime
    ) -> VisitorActivity:
        """A random opportunity-related visitor activity between the two instants."""
        # The hottest generator path (three per opportunity): picks are inlined.
        r = self.rng.random
        code, name = ACTIVITY_TYPES[int(r() * 6)]
        span = int((latest - earliest).total_seconds())
        created = earliest + timedelta(seconds=int(r() * (span + 1))) if span > 0 else earliest
        links, pool, campaigns = opp.prospect_ids, self.prospects, self.campaigns
        if links:
            prospect_id: int | None = links[int(r() * len(links))]
        else:
            prospect_id = pool[int(r() * len(pool))].id if pool else None
        optional: dict[str, int] = {}
        if r() < 0.15:
            optional[OPTIONAL_ID_FIELDS[int(r() * 5)]] = 100 + int(r() * 99900)
        campaign_id = None
        if campaigns and r() < 0.8:
            campaign_id = campaigns[int(r() * len(campaigns))].id
        self.next_activity_id += 1
        return VisitorActivity(
            self.next_activity_id - 1,
            opp.id,
            prospect_id,
            None if r() < 0.1 else FIRST_VISITOR_ID + int(r() * 1_000_000),
            code,
            name,
            opp.name,
            campaign_id,
            created,
            created,
            optional,
        )


def initial_data(
    gen: Generator, count: int, end: datetime, days: int
) -> tuple[list[Campaign], list[Prospect], list[Opportunity]]:
    """The account at the clock start; a few percent of the opportunities are deleted."""
    campaigns = gen.make_campaigns()
    prospects = gen.make_prospects(max(5, count // 2))
    opportunities = []
    last_moment = end - timedelta(seconds=1)
    for created in gen.history_times(count, end - timedelta(hours=1), days):
        opp = gen.make_opportunity(created, last_moment)
        opp.deleted = gen.rng.random() < 0.03
        opportunities.append(opp)
    return campaigns, prospects, opportunities
