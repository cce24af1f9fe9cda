"""The six opportunity operations, from merged parameters to a response tree.

Each handler returns the nodes to put inside ``<rsp stat="ok">``, or ``None`` for the
empty success body of delete and undelete, and raises :class:`ApiError` for failures.
"""

from collections.abc import Mapping
from datetime import datetime

from .clock import AccountTime, VirtualClock
from .config import EmulatorConfig
from .errors import ApiError
from .models import Opportunity
from .query import run_query
from .render import json_ok
from .store import DataStore
from .views import OUTPUTS, Views
from .writes import parse_int, validate_fields
from .xmlfast import XmlRenderer


class OpportunityApi:
    """Dispatches ``do/<op>`` to the store and renders the answer (under the lock)."""

    def __init__(
        self,
        config: EmulatorConfig,
        store: DataStore,
        views: Views,
        time: AccountTime,
        clock: VirtualClock,
    ) -> None:
        self.config = config
        self.store = store
        self.views = views
        self.time = time
        self.clock = clock
        self.xml = XmlRenderer(views)
        self._pages: dict[tuple[object, ...], bytes] = {}
        """With ``render_cache``: whole query responses, for the current data only."""
        self._pages_data: tuple[int, int] | None = None
        """(store, overrides) generation the cached responses were rendered from."""

    def forget_pages(self) -> None:
        """Drop every cached query response (a rendering switch changed)."""
        with self.store.lock:
            self._pages.clear()
            self._pages_data = None

    def parse_time(self, text: str) -> datetime:
        """A filter or field time in the account zone, relative to the virtual now."""
        return self.time.parse(text, self.clock.now())

    def handle(
        self, operation: str, params: Mapping[str, str], version: int, as_json: bool = False
    ) -> bytes | None:
        """Run one operation and render its body; unknown operations are error 2."""
        if operation == "query":
            return self.query(params, version, as_json)
        if operation == "read":
            return self.read(params, as_json)
        if operation in ("create", "update", "delete", "undelete"):
            if self.config.crm_connector:
                raise ApiError(59)
            if operation == "create":
                return self.create(params, version, as_json)
            if operation == "update":
                return self.update(params, as_json)
            with self.store.lock:
                if operation == "delete":
                    self.store.delete(self._id(params))
                else:
                    self.store.undelete(self._id(params))
            return None
        raise ApiError(2)

    def _id(self, params: Mapping[str, str]) -> int:
        raw = params.get("id", "")
        if not raw.strip():
            raise ApiError(16)
        return parse_int(raw, 16)

    def _output(self, params: Mapping[str, str]) -> str:
        output = params.get("output", "full").strip().lower()
        return output if output in OUTPUTS else "full"

    def _single(self, opp: Opportunity, output: str, as_json: bool) -> bytes:
        if as_json:
            return json_ok([self.views.opportunity(opp, output, True)])
        return self.xml.single(opp, output)

    def query(self, params: Mapping[str, str], version: int, as_json: bool = False) -> bytes:
        """``do/query``."""
        with self.store.lock:
            key = self._page_key(params, version, as_json)
            if key is not None:
                data = (self.store.generation, self.views.overrides.generation)
                if data != self._pages_data:  # the data changed: every page is stale
                    self._pages.clear()
                    self._pages_data = data
                cached = self._pages.get(key)
                if cached is not None:
                    return cached
            found = run_query(self.store, params, version, self.parse_time)
            activities = self.config.query_includes_activities
            if as_json:
                tree = self.views.query_result(found.rows, found.total, found.output, activities)
                body = json_ok([tree])
            else:
                body = self.xml.query(found.rows, found.total, found.output, activities)
            if key is not None:
                self._pages[key] = body
            return body

    def _page_key(
        self, params: Mapping[str, str], version: int, as_json: bool
    ) -> tuple[object, ...] | None:
        """What a query's response depends on, or None when it must not be cached.

        Only with ``render_cache`` (the benchmarks' emulator, which must cost the
        connector nothing), and not for relative times (``today``), which move.
        """
        if not self.config.render_cache:
            return None
        for name, value in params.items():
            if name.endswith(("_after", "_before")) and not value.strip()[:1].isdigit():
                return None
        return (version, as_json, *sorted(params.items()))

    def read(self, params: Mapping[str, str], as_json: bool = False) -> bytes:
        """``do/read/id/<id>``."""
        opportunity_id = self._id(params)
        with self.store.lock:
            opp = self.store.live(opportunity_id)
            return self._single(opp, self._output(params), as_json)

    def create(self, params: Mapping[str, str], version: int, as_json: bool = False) -> bytes:
        """``do/create`` by prospect email or id."""
        raw_pid = params.get("prospect_id", "").strip()
        email = params.get("prospect_email", "").strip() or None
        prospect_id = parse_int(raw_pid, 3) if raw_pid else None
        if prospect_id is None and email is None:
            raise ApiError(36)
        with self.store.lock:
            prospects = self.store.resolve_prospects(prospect_id, email, version)
            fields = validate_fields(
                params,
                creating=True,
                campaign_exists=self.store.campaigns.__contains__,
                parse_time=self.parse_time,
            )
            # v4: several prospects may share the email; Pardot picks the most recently
            # active one, which the emulator approximates with the newest prospect.
            opp = self.store.create(fields, [max(prospects)])
            return self._single(opp, "full", as_json)

    def update(self, params: Mapping[str, str], as_json: bool = False) -> bytes:
        """``do/update/id/<id>``: only the given fields change."""
        opportunity_id = self._id(params)
        with self.store.lock:
            self.store.live(opportunity_id)
            fields = validate_fields(
                params,
                creating=False,
                campaign_exists=self.store.campaigns.__contains__,
                parse_time=self.parse_time,
            )
            opp = self.store.update(opportunity_id, fields)
            return self._single(opp, "full", as_json)
