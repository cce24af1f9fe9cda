"""API v5's opportunity query, ``GET /api/v5/objects/opportunities``: checks and JSON.

v5 answers with real HTTP statuses and JSON errors ``{"code": …, "message": …}``,
never XML. A request passes, in order (after the fault decision and the concurrency
gate, as v3/v4 do in :mod:`.wsgi`): method (405), headers (400/181), business unit
(400/201), token (401/184), v5 access (403), IP allowlist (403/53), the daily limit
shared with v3/v4 (429/122), then the query's parameters (400/10000).
"""

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .clock import AccountTime, VirtualClock
from .config import EmulatorConfig
from .errors import MESSAGES, ApiError
from .models import Opportunity
from .responses import JSON_TYPE, Response
from .routing import ParsedRequest
from .store import DataStore
from .v5query import Entry, Snapshots, V5Query, page, parse_query
from .v5token import PageToken, TokenCodec, TokenError

if TYPE_CHECKING:
    from .emulator import PardotEmulator

V5_PATH = "/api/v5/objects/opportunities"
V5_OPERATION = "v5_opportunity_query"
NO_V5_CODE = 1
"""The code of the refusal when the account has no v5 access (the real one is not known;
the 403 is what a client should read)."""
WARNING_HEADER = "Pardot-Warning"


def v5_error(status: int, code: int, message: str | None = None) -> Response:
    """A v5 error: JSON ``{"code", "message"}`` with a real HTTP status."""
    text = message if message is not None else MESSAGES.get(code, "Error")
    body = json.dumps({"code": code, "message": text}).encode()
    return Response(status, body, JSON_TYPE, error_code=code)


def _text(value: str) -> str | None:
    return value or None


def _getters(time: AccountTime) -> dict[str, Callable[[Opportunity, Entry], Any]]:
    """How each field is read from an opportunity and its snapshot row."""
    return {
        "id": lambda o, r: o.id,
        "name": lambda o, r: _text(o.name),
        "campaignId": lambda o, r: o.campaign_id,
        "closedAt": lambda o, r: time.iso(o.closed_at),
        "createdAt": lambda o, r: time.iso(o.created_at),
        "createdById": lambda o, r: None,
        "updatedAt": lambda o, r: time.iso(datetime.fromtimestamp(r[3], time.tz)),
        "updatedById": lambda o, r: None,
        "probability": lambda o, r: o.probability,
        "salesforceId": lambda o, r: None,
        "stage": lambda o, r: _text(o.stage),
        "status": lambda o, r: _text(o.status.lower()),
        "type": lambda o, r: _text(o.type),
        "value": lambda o, r: float(o.value),
    }


class V5OpportunityApi:
    """The v5 query over the store: tokens, the chain cap, the cache lag, rendering."""

    def __init__(
        self, config: EmulatorConfig, store: DataStore, time: AccountTime, clock: VirtualClock
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.tokens = TokenCodec()
        self.snapshots = Snapshots(store)
        self._get = _getters(time)

    def query(self, params: Mapping[str, str]) -> Response:
        """One page; a ``nextPageToken`` brings the whole query and its cursor."""
        now = self.clock.now()
        epoch = int(now.timestamp())
        raw_token = params.get("nextPageToken")
        if raw_token is not None and raw_token.strip():
            try:
                token = self.tokens.decode(raw_token, epoch)
            except (TokenError, ValueError, KeyError, IndexError, TypeError) as exc:
                why = str(exc) if isinstance(exc, TokenError) else "nextPageToken is not valid"
                raise ApiError(10000, why, param="nextPageToken") from exc
            query = V5Query.from_json(token.query)
            after: tuple[int, int] | None = token.after
            served = token.served
        else:
            query, after, served = parse_query(params), None, 0
        lag = self.config.v5_cache_lag_seconds
        cutoff = now - timedelta(seconds=lag) if lag > 0 else None
        cap = self.config.v5_chain_cap
        size = max(0, min(query.limit, cap - served))
        with self.store.lock:
            rows, more = page(self.snapshots.rows(query, cutoff), query, after, size)
            opps = self.store.opportunities
            getters = [(name, self._get[name]) for name in query.fields]
            values = [{name: get(opps[r[1]], r) for name, get in getters} for r in rows]
        served += len(rows)
        headers: list[tuple[str, str]] = []
        next_token: str | None = None
        if served >= cap:
            headers.append(
                (
                    WARNING_HEADER,
                    f"203 Result set truncated at {cap} records for this query: "
                    "query again from the last updatedAt received",
                )
            )
        elif more and rows:
            last = rows[-1]
            next_token = self.tokens.encode(
                PageToken(query.to_json(), (last[0], last[1]), served, epoch)
            )
        doc = {
            "nextPageToken": next_token,
            "nextPageUrl": None
            if next_token is None
            else f"{V5_PATH}?nextPageToken={quote(next_token)}",
            "values": values,
        }
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        return Response(200, body, JSON_TYPE, headers)


def handle_v5(emu: "PardotEmulator", request: ParsedRequest) -> Response:
    """The checks of one v5 request, in Pardot's order, then the query."""
    config = emu.config
    if request.method != "GET":
        response = v5_error(405, 60, "Only GET is allowed on this resource")
        response.headers.append(("Allow", "GET"))
        return response
    authorization = request.headers.get("authorization", "").strip()
    business_unit = request.headers.get("pardot-business-unit-id", "").strip()
    if not authorization or not business_unit:
        return v5_error(400, 181)
    if business_unit != config.business_unit_id:
        return v5_error(400, 201, f"Business Unit {business_unit} not found or inactive")
    scheme, _, bearer = authorization.partition(" ")
    if scheme.lower() != "bearer" or not emu.tokens.valid(bearer.strip()):
        return v5_error(401, 184)
    if not config.v5_enabled:
        return v5_error(403, NO_V5_CODE, "This account does not have access to API version 5")
    if not config.ip_allowlisted:
        return v5_error(403, 53)
    if not emu.daily.take(emu.time.local_date(emu.clock.now())):
        return v5_error(429, 122)
    try:
        return emu.v5.query(request.params)
    except ApiError as err:
        return v5_error(400, err.code, err.message)
