"""``PardotEmulator``: the emulated account, its WSGI app and its Python control interface.

Tests change the data through the methods here (thread-safe, same effects as the API's
write operations but never refused by the CRM-connector switch: they stand for changes
made upstream), read back :meth:`ground_truth`, and assert on the request log.
"""

import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .activityapi import VisitorActivityApi
from .api import OpportunityApi
from .auth import TokenRegistry
from .clock import AccountTime, VirtualClock
from .config import BOOL_SWITCHES, SWITCHES, EmulatorConfig, FaultConfig
from .faults import FaultInjector
from .groundtruth import ground_truth
from .limits import ConcurrencyGate, DailyCounter
from .requestlog import RequestLog, RequestRecord
from .store import DataStore
from .v5api import V5OpportunityApi
from .views import Views
from .writes import validate_fields
from .wsgi import StartResponse, dispatch

FieldValue = str | int | float | datetime | None


class PardotEmulator:
    """A local Pardot v3/v4 Opportunity API and v5 opportunity query; the instance is
    itself a WSGI app."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = VirtualClock(self.config.clock_start, realtime=self.config.realtime_clock)
        self.time = AccountTime(self.config.timezone)
        self.store = DataStore(self.config, self.clock, self.time)
        self.views = Views(self.config, self.store, self.time)
        self.api = OpportunityApi(self.config, self.store, self.views, self.time, self.clock)
        self.activity_api = VisitorActivityApi(self.store, self.views, self.api.parse_time)
        self.v5 = V5OpportunityApi(self.config, self.store, self.time, self.clock)
        self.tokens = TokenRegistry(self.config)
        self.gate = ConcurrencyGate(self.config.concurrency_limit)
        self.daily = DailyCounter(self.config.daily_limit)
        self.faults = FaultInjector()
        self.log = RequestLog()

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return dispatch(self, environ, start_response)

    @property
    def app(self) -> "PardotEmulator":
        """The WSGI application (the emulator itself)."""
        return self

    # -- observation ---------------------------------------------------------------------

    def ground_truth(self) -> dict[str, Any]:
        """Everything the server holds, as warehouse-shaped tables."""
        return ground_truth(self.store)

    def ground_truth_json(self) -> str:
        """:meth:`ground_truth` as JSON text."""
        return json.dumps(self.ground_truth(), ensure_ascii=False)

    @property
    def request_log(self) -> list[RequestRecord]:
        """A snapshot of the API and token requests so far."""
        return self.log.snapshot()

    def request_count(self, operation: str | None = None) -> int:
        """How many API/token requests (of one operation: ``query``, ``token``,
        ``visitor_activity_query`` …)."""
        return self.log.count(operation)

    def reset_request_log(self) -> None:
        """Forget the request log."""
        self.log.clear()

    def now(self) -> datetime:
        """The virtual clock's current instant (aware UTC)."""
        return self.clock.now()

    # -- control -------------------------------------------------------------------------

    def add_opportunities(
        self,
        n: int,
        *,
        same_second: bool = False,
        prospects: int | None = None,
        activities: int | None = None,
    ) -> list[int]:
        """``n`` new random opportunities created now; returns their ids."""
        return self.store.add_opportunities(
            n, same_second=same_second, prospects=prospects, activities=activities
        )

    def _fields(self, values: dict[str, FieldValue], *, creating: bool) -> dict[str, Any]:
        closed = values.pop("closed_at", "absent")
        params = {k: "" if v is None else str(v) for k, v in values.items()}
        fields = validate_fields(
            params,
            creating=creating,
            campaign_exists=self.store.campaigns.__contains__,
            parse_time=self.api.parse_time,
        )
        if isinstance(closed, datetime):
            fields["closed_at"] = closed.astimezone(UTC)
        elif closed is None or (isinstance(closed, str) and closed != "absent"):
            fields.update(validate_fields(
                {"closed_at": closed or ""}, creating=False,
                campaign_exists=self.store.campaigns.__contains__,
                parse_time=self.api.parse_time,
            ))  # fmt: skip
        return fields

    def create_opportunity(
        self,
        *,
        name: str,
        value: float,
        probability: int,
        prospect_id: int | None = None,
        prospect_email: str | None = None,
        **fields: FieldValue,
    ) -> int:
        """Create like ``do/create`` (errors as :class:`ApiError`); returns the new id."""
        if prospect_id is None and prospect_email is None:
            raise ValueError("prospect_id or prospect_email is required")
        values: dict[str, FieldValue] = {"name": name, "value": value, "probability": probability}
        values.update(fields)
        with self.store.lock:
            prospects = self.store.resolve_prospects(
                prospect_id, prospect_email, self.config.api_version
            )
            opp = self.store.create(self._fields(values, creating=True), [max(prospects)])
            return opp.id

    def update_opportunity(self, opportunity_id: int, **fields: FieldValue) -> None:
        """Update like ``do/update``: only the given fields change, ``None`` clears."""
        with self.store.lock:
            self.store.live(opportunity_id)
            self.store.update(opportunity_id, self._fields(dict(fields), creating=False))

    def delete_opportunity(self, opportunity_id: int) -> None:
        """Soft-delete like ``do/delete``."""
        self.store.delete(opportunity_id)

    def undelete_opportunity(self, opportunity_id: int) -> None:
        """Restore like ``do/undelete``."""
        self.store.undelete(opportunity_id)

    def link_prospect(self, opportunity_id: int, prospect_id: int) -> None:
        """Link a prospect to an opportunity (moves ``updated_at`` only with the
        ``link_bumps_updated_at`` switch)."""
        self.store.link_prospect(opportunity_id, prospect_id)

    def unlink_prospect(self, opportunity_id: int, prospect_id: int) -> None:
        """Unlink a prospect from an opportunity (moves ``updated_at`` only with the
        ``link_bumps_updated_at`` switch)."""
        self.store.unlink_prospect(opportunity_id, prospect_id)

    def add_activity(self, opportunity_id: int, **fields: Any) -> int:
        """Add a visitor activity (unspecified fields generated); returns its id.

        ``created_at``/``updated_at`` may be aware datetimes or ISO-8601 strings (naive
        ones are read as UTC).
        """
        for name in ("created_at", "updated_at"):
            value = fields.get(name)
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime):
                aware = value if value.tzinfo else value.replace(tzinfo=UTC)
                fields[name] = aware.astimezone(UTC).replace(microsecond=0)
        return self.store.add_activity(opportunity_id, **fields)

    def advance_clock(self, seconds: float = 0, *, days: int = 0) -> None:
        """Move the virtual clock forward."""
        self.clock.advance(seconds + days * 86400)

    def override_field(self, opportunity_id: int, field: str, text: str) -> None:
        """Render one top-level field of one opportunity as ``text`` ("" = empty element).

        A test control for values Pardot would never accept on a write (``value`` "abc",
        probability 150, a date that does not parse): the stored data, the ground truth
        and ``updated_at`` stay as they are; only the rendered text changes (XML and
        JSON, every operation), until :meth:`clear_field_overrides`.
        """
        with self.store.lock:
            self.store.any(opportunity_id)
            self.views.overrides.set(opportunity_id, field, text)

    def clear_field_overrides(self, opportunity_id: int | None = None) -> None:
        """Render one opportunity (or all) from the stored data again."""
        with self.store.lock:
            self.views.overrides.clear(opportunity_id)

    def switches(self) -> dict[str, Any]:
        """The switches that :meth:`set_switches` may change, and their values."""
        return {name: getattr(self.config, name) for name in SWITCHES}

    def set_switches(self, **values: Any) -> None:
        """Change switches while running (``config.SWITCHES``: the rendering ones,
        ``link_bumps_updated_at`` and the v5 ones); the data stays as it is. Unknown
        names and bad values are a ``ValueError``, nothing set.
        """
        unknown = sorted(set(values) - set(SWITCHES))
        if unknown:
            raise ValueError(f"unknown switches: {unknown} (known: {list(SWITCHES)})")
        for name in BOOL_SWITCHES:
            if name in values and not isinstance(values[name], bool):
                raise ValueError(f"{name} must be true or false")
        with self.store.lock:
            checked = dataclasses.replace(self.config, **values)  # validates
            for name in values:
                setattr(self.config, name, getattr(checked, name))
            self.api.forget_pages()

    def set_faults(self, faults: FaultConfig) -> None:
        """Switch fault injection (restarts its seeded random stream)."""
        self.faults.configure(faults)
