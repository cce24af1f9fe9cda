"""The fast path, first half: a query page's ``<result>`` -> one line per row, in C.

Walking a page element by element in Python costs several times the lxml parse itself.
Here one generated XSLT stylesheet does the walk inside libxslt, which
dispatches on element names by hash look-up and, like the parser, releases the GIL: the
threads of the flatten pool in ``fetch`` work on pages side by side. It writes one line
per row::

    O<TAB>00<id><TAB>01<name>...<TAB>#C<TAB>#P<TAB>#A   an opportunity
    C<TAB>00<id><TAB>01<name>...                        its (or its activity's) campaign
    P<TAB>00<id>...                                     a prospect linked to it
    A<TAB>00<id>...<TAB>#C                              one of its visitor activities

Each token is a two-character field code then the field's text; ``#C``/``#P``/``#A`` say
that a ``<campaign>``, ``<prospects>`` or ``<opportunity_activities>`` was present. A
campaign line follows the line of the row it belongs to. ``pivot`` turns the lines of
many pages into string columns at once.

The fast path is exact or it declines, and the page then takes the general walk in
``walk``, which keeps unknown elements and names every error. It declines, and says
why (``Declined``), when

* an element it does not know appears anywhere in an opportunity (it writes ``!``);
* an element is left unread: a field with element children, a second ``<campaign>``
  with children of its own, something other than ``<prospect>`` in ``<prospects>``;
* a value holds a tab or a line feed, which would split or forge a line;
* an opportunity id is missing or not a plain integer (the general walk names it).

For the second and third, the stylesheet first counts from the tree the elements in the
opportunities, the elements it reads, and the lines and tokens it is about to write: the
elements must all be read, and the text must hold exactly that many tabs and line feeds.

Which element a field reads follows the general walk: a repeated field gives its last
value (``pivot``), a repeated container its first (``find``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, cast

from lxml import etree

from .schema import CAMPAIGNS, OPPORTUNITIES, PROSPECTS, VISITOR_ACTIVITIES

OPPORTUNITY_FIELDS: Final = tuple(
    c.name for c in OPPORTUNITIES.columns if c.name not in ("is_deleted", "deleted_at")
)
CAMPAIGN_FIELDS: Final = tuple(c.name for c in CAMPAIGNS.columns)
PROSPECT_FIELDS: Final = tuple(c.name for c in PROSPECTS.columns)
ACTIVITY_FIELDS: Final = tuple(c.name for c in VISITOR_ACTIVITIES.columns)

OPPORTUNITY: Final = "O"
CAMPAIGN: Final = "C"
PROSPECT: Final = "P"
ACTIVITY: Final = "A"
FIELDS: Final = {
    OPPORTUNITY: OPPORTUNITY_FIELDS,
    CAMPAIGN: CAMPAIGN_FIELDS,
    PROSPECT: PROSPECT_FIELDS,
    ACTIVITY: ACTIVITY_FIELDS,
}
"""The fields of each kind of line; a field's code is its index, in two digits."""
HAS_CAMPAIGN: Final = "#C"
HAS_PROSPECTS: Final = "#P"
HAS_ACTIVITIES: Final = "#A"

_ACTIVITY_PATH: Final = "opportunity/opportunity_activities[1]/visitor_activity"
_READ: Final = (
    "opportunity",
    "opportunity/*",
    "opportunity/campaign[1]/*",
    "opportunity/prospects[1]/prospect",
    "opportunity/prospects[1]/prospect/*",
    _ACTIVITY_PATH,
    f"{_ACTIVITY_PATH}/*",
    f"{_ACTIVITY_PATH}/campaign[1]/*",
)
"""The elements the stylesheet reads: each gets one line or one token."""
_CAMPAIGN_LINES: Final = ("opportunity/campaign[1]", f"{_ACTIVITY_PATH}/campaign[1]")
"""The elements that get a line besides their token."""


def code(index: int) -> str:
    """The two-character code of the field at ``index`` of its kind."""
    return f"{index:02d}"


def _stylesheet() -> etree.XSLT:
    tab, newline = "<xsl:text>&#9;</xsl:text>", "<xsl:text>&#10;</xsl:text>"
    value = '<xsl:value-of select="."/>'

    def fields(mode: str, kind: str) -> str:
        known = "".join(
            f'<xsl:template match="{name}" mode="{mode}">{tab}{code(i)}{value}</xsl:template>'
            for i, name in enumerate(FIELDS[kind])
        )
        return known + f'<xsl:template match="*" mode="{mode}">{tab}!</xsl:template>'

    def flag(mode: str, name: str, token: str) -> str:
        return f'<xsl:template match="{name}" mode="{mode}">{tab}{token}</xsl:template>'

    def line(mode: str, kind: str, after: str = "") -> str:
        return (
            f'<xsl:template match="*" mode="{mode}">{kind}'
            f'<xsl:apply-templates select="*" mode="{mode.lower()}"/>{newline}{after}'
            "</xsl:template>"
        )

    campaign = '<xsl:apply-templates select="campaign[1]" mode="C"/>'
    opportunity_rest = (
        campaign
        + '<xsl:apply-templates select="prospects[1]/prospect" mode="P"/>'
        + '<xsl:apply-templates select="opportunity_activities[1]/visitor_activity" mode="A"/>'
    )
    read = " + ".join(f"count(/*/{path})" for path in _READ)
    lines = " + ".join(f"count(/*/{path})" for path in _CAMPAIGN_LINES)
    inside = "count(//*) - 1 - count(/*/*[not(self::opportunity)]/descendant-or-self::*)"
    templates = "".join(
        (
            '<xsl:template match="/">',
            f'<xsl:value-of select="{inside} - ({read})"/>{tab}',
            f'<xsl:value-of select="{read} + {lines}"/>{newline}',
            '<xsl:apply-templates select="/*/opportunity" mode="O"/>',
            "</xsl:template>",
            line("O", OPPORTUNITY, opportunity_rest),
            flag("o", "campaign", HAS_CAMPAIGN),
            flag("o", "prospects", HAS_PROSPECTS),
            flag("o", "opportunity_activities", HAS_ACTIVITIES),
            fields("o", OPPORTUNITY),
            line("C", CAMPAIGN),
            fields("c", CAMPAIGN),
            line("P", PROSPECT),
            fields("p", PROSPECT),
            line("A", ACTIVITY, campaign),
            flag("a", "campaign", HAS_CAMPAIGN),
            fields("a", ACTIVITY),
        )
    )
    text = (
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:output method="text" encoding="UTF-8"/>' + templates + "</xsl:stylesheet>"
    )
    # Our own constant text, parsed by lxml's default parser: no DTD, nothing fetched;
    # and the transform may read or write no file and open no connection.
    deny_all = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]  # not in the stubs
    return etree.XSLT(etree.XML(text.encode()), access_control=deny_all)


_FLATTEN: Final = _stylesheet()
_ELEMENT: Final = etree.Element  # iter(tag=_ELEMENT): elements only, no comments
_IDS: Final = etree.XPath("opportunity/id[last()]/text()", smart_strings=False)
_COUNT: Final = etree.XPath("count(opportunity)")
_LAST_CREATED_AT: Final = etree.XPath("string(opportunity[last()]/created_at[last()])")


@dataclass(frozen=True)
class FlatPage:
    """One page as lines (see the module's docstring), plus what paging needs."""

    lines: bytes
    ids: list[int]
    last_created_at: str | None
    """``created_at`` of the last opportunity, exactly as Pardot rendered it (local)."""
    carries_activities: bool


@dataclass(frozen=True)
class Declined:
    """Why the fast path cannot read a page exactly; the general walk reads it instead."""

    reason: str


def flatten_page(result: etree._Element) -> FlatPage | None:
    """The page as lines, or None where the general walk in ``walk`` must read it.

    Args:
        result: the ``<result>`` element of a ``do/query`` response.
    """
    flat = flatten_or_decline(result)
    return flat if isinstance(flat, FlatPage) else None


def flatten_or_decline(result: etree._Element) -> FlatPage | Declined:
    """The page as lines, or why the fast path declines it (see the module docstring).

    Args:
        result: the ``<result>`` element of a ``do/query`` response.
    """
    raw_ids = cast(Sequence[str], _IDS(result))
    if len(raw_ids) != int(cast(float, _COUNT(result))):
        return Declined("an opportunity without an id")
    try:
        ids = [int(text) for text in raw_ids]
    except ValueError:
        return Declined("an opportunity id that is not an integer")
    if any(str(number) != text for number, text in zip(ids, raw_ids, strict=True)):
        # rows are matched to their opportunity by this text
        return Declined("an opportunity id with spaces or leading zeros")
    head, _, lines = bytes(_FLATTEN(result)).partition(b"\n")
    unread, separators = (int(float(number)) for number in head.split(b"\t"))
    if b"\t!" in lines:
        return Declined(f"an element the fast path does not know ({_unknown_element(result)})")
    if unread:
        return Declined(f"{unread} nested element(s) in an unexpected place")
    if lines.count(b"\t") + lines.count(b"\n") != separators:
        return Declined("a value holding a tab or a line feed")
    created = str(_LAST_CREATED_AT(result))
    carries_activities = f"\t{HAS_ACTIVITIES}".encode() in lines  # no value holds a tab
    return FlatPage(lines, ids, created or None, carries_activities)


def _unknown_element(result: etree._Element) -> str:
    """The path of the first element the stylesheet does not know, to say which."""
    known = {
        "opportunity": set(OPPORTUNITY_FIELDS)
        | {"campaign", "prospects", "opportunity_activities"},
        "campaign": set(CAMPAIGN_FIELDS),
        "prospect": set(PROSPECT_FIELDS),
        "visitor_activity": set(ACTIVITY_FIELDS) | {"campaign"},
    }
    for parent in result.iter(_ELEMENT):
        names = known.get(str(parent.tag))
        if names is None:
            continue
        for element in parent.iterchildren(_ELEMENT):
            if element.tag not in names:
                return f"<{parent.tag}>/<{element.tag}>"
    return "unknown"
