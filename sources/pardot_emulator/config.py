"""Configuration of the emulator: the account it plays and the faults it injects.

Plain dataclasses with defaults that make a usable account out of the box; the command
line and the control interface build them from flags and JSON.
"""

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

DEFAULT_CLOCK_START = datetime(2024, 3, 9, 12, 0, 0, tzinfo=UTC)
"""Shortly before the 2024 spring-forward in America/New_York (2024-03-10 02:00 local)."""
VISITOR_ACTIVITY_ELEMENTS = ("visitorActivity", "visitor_activity")
"""The names the visitor activity query's element may have (documented, recorded)."""
SWITCHES = (
    "query_includes_activities",
    "visitor_activity_element",
    "visitor_activity_opportunity_id",
    "link_bumps_updated_at",
    "v5_enabled",
    "v5_cache_lag_seconds",
    "v5_chain_cap",
)
"""Switches that may change while the emulator runs (``set_switches``)."""
BOOL_SWITCHES = (
    "query_includes_activities",
    "visitor_activity_opportunity_id",
    "link_bumps_updated_at",
    "v5_enabled",
)
"""The switches that take only true or false (``1`` is not accepted for ``True``)."""
V5_CHAIN_CAP = 100_000
"""Records one chain of v5 page tokens returns at most, as Pardot documents."""


@dataclass
class EmulatorConfig:
    """The emulated business unit, its data and its API behaviour switches."""

    opportunities: int = 1000
    seed: int = 1
    timezone: str = "America/New_York"
    api_version: int = 3
    business_unit_id: str = "0Uv000000000001AAA"
    default_token: str = "emulator-access-token"  # noqa: S105 (a fake)
    oauth_clients: dict[str, str] = field(
        default_factory=lambda: {"emulator-client": "emulator-secret"}
    )
    oauth_users: dict[str, str] = field(
        default_factory=lambda: {"api@example.com": "emulator-password"}
    )
    refresh_tokens: tuple[str, ...] = ("emulator-refresh-token",)
    token_lifetime_seconds: float = 7200.0
    token_error_status: int = 401
    query_includes_activities: bool = False
    """A query with ``output=full`` carries each opportunity's ``<opportunity_activities>``
    (True: the other reading; by default only a read does, as Pardot's documentation
    has it)."""
    visitor_activity_element: Literal["visitorActivity", "visitor_activity"] = "visitorActivity"
    """The element of each activity in a visitor activity query: ``visitorActivity`` as
    Pardot's documentation names it, or ``visitor_activity`` as recorded responses do."""
    visitor_activity_opportunity_id: bool = True
    """The visitor activity query renders ``<opportunity_id>`` (undocumented in v3/v4;
    False omits it)."""
    crm_connector: bool = False
    daily_limit: int | None = None
    daily_limit_status: int = 200
    """The HTTP status that comes with error 122 (Pardot's v3/v4 send 200; some answers
    have been seen with 429 or 503)."""
    json_errors: bool = False
    """Error bodies are JSON even when XML is asked for, as some Pardot endpoints answer."""
    ip_allowlisted: bool = True
    """False: every API request is refused with error 53, as when the API user may only
    connect from allowed IP addresses and this machine's is not one."""
    concurrency_limit: int = 5
    status_case: Literal["lower", "capitalized"] = "lower"
    emit_empty_closed_at: bool = True
    top_level_campaign_id: bool = False
    id_gap: int = 1
    id_jump: tuple[int, int] | None = None
    """(after how many opportunities, by how much) the ids jump once: old ids far below
    the rest, as after a migration, so that equal id widths hold very unequal rows."""
    clock_start: datetime = DEFAULT_CLOCK_START
    history_days: int = 730
    realtime_clock: bool = True
    """When true the virtual clock also moves with real (monotonic) time."""
    faults_on_token_endpoint: bool = False
    link_bumps_updated_at: bool = False
    """Linking or unlinking a prospect moves the opportunity's ``updated_at`` (v3/v4 and
    v5 alike: one field). Unknown for Pardot; by default it does not."""
    v5_enabled: bool = True
    """The account may use API v5; False answers every v5 request with HTTP 403."""
    v5_cache_lag_seconds: float = 0.0
    """v5 answers from a snapshot this old: opportunities created within it are absent,
    ones updated within it show their previous ``updatedAt`` (Pardot documents up to
    about 60 s)."""
    v5_chain_cap: int = V5_CHAIN_CAP
    """Records one chain of v5 page tokens returns at most (smaller values let tests
    cross the cap cheaply)."""
    render_cache: bool = False
    """Cache each opportunity's rendered XML until it changes (for repeated benchmark
    passes; costs about 2 KB of memory per cached full-output opportunity)."""

    def __post_init__(self) -> None:
        if self.api_version not in (3, 4):
            raise ValueError("api_version must be 3 or 4")
        if self.token_error_status not in (400, 401):
            raise ValueError("token_error_status must be 400 or 401")
        if self.status_case not in ("lower", "capitalized"):
            raise ValueError("status_case must be 'lower' or 'capitalized'")
        if self.visitor_activity_element not in VISITOR_ACTIVITY_ELEMENTS:
            raise ValueError(f"visitor_activity_element must be one of {VISITOR_ACTIVITY_ELEMENTS}")
        if self.id_gap < 1:
            raise ValueError("id_gap must be >= 1")
        if self.id_jump is not None and min(self.id_jump) < 1:
            raise ValueError("id_jump must be (after, by) with both >= 1")
        if isinstance(self.v5_cache_lag_seconds, bool) or self.v5_cache_lag_seconds < 0:
            raise ValueError("v5_cache_lag_seconds must be a number >= 0")
        if isinstance(self.v5_chain_cap, bool) or not isinstance(self.v5_chain_cap, int):
            raise ValueError("v5_chain_cap must be an integer")
        if self.v5_chain_cap < 1:
            raise ValueError("v5_chain_cap must be >= 1")
        if self.opportunities < 0:
            raise ValueError("opportunities must be >= 0")
        if self.clock_start.tzinfo is None:
            raise ValueError("clock_start must be timezone-aware")
        # Pardot keeps whole seconds; so must every instant derived from the clock start.
        self.clock_start = self.clock_start.replace(microsecond=0)


@dataclass(frozen=True)
class FaultConfig:
    """Fault switches; every decision comes from ``random.Random(seed)``, so runs repeat."""

    seed: int = 0
    latency_seconds: float = 0.0
    latency_jitter_seconds: float = 0.0
    error_5xx_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    burst_66_rate: float = 0.0
    token_expiry_after_requests: int | None = None
    html_error_rate: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaultConfig":
        """Build from a JSON object, rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return cls(**data)
