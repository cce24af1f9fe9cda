"""Several Pardot business units in one command, each isolated from the others.

Each unit gets its own dlt pipeline (so its own cursors and state) and its own dataset,
and runs after the previous one has finished: units of one Salesforce org share
Pardot's concurrency limit, and a failing unit (a bad token, an API outage, a value
that cannot be typed) must neither stop nor corrupt the next one. ``run_sync`` never
raises, so a failure stays inside its unit's summary.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .runner import EXIT_CONFIG, EXIT_DAILY_LIMIT, EXIT_FAILED, EXIT_OK, RunSummary, run_sync

SEVERITY: Final = (EXIT_FAILED, EXIT_CONFIG, EXIT_DAILY_LIMIT, EXIT_OK)
"""Exit codes from worst to best: the command exits with its units' worst."""


@dataclass
class Unit:
    """One business unit: a short name for its dataset and pipeline, and its options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_id(cls, business_unit_id: str) -> Unit:
        """A unit named after its id (``0Uv5e…`` → ``0uv5e…``), sharing everything else."""
        name = re.sub(r"[^0-9a-z_]", "_", business_unit_id.strip().lower())
        return cls(name, {"business_unit_id": business_unit_id.strip()})


@dataclass
class UnitsSummary:
    """The closing line of a multi-unit run: the worst exit code and the sums."""

    exit_code: int
    outcome: str
    units: dict[str, str]
    failed: list[str]
    requests: int
    opportunities: int
    rows: dict[str, int]
    seconds: float

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps({"total": True, **self.__dict__}, sort_keys=True, separators=(",", ":"))


def worst_exit_code(codes: Sequence[int]) -> int:
    """Failed beats configuration error beats daily limit beats complete."""
    return min(codes, key=lambda code: SEVERITY.index(code) if code in SEVERITY else -1)


def run_units(
    units: Sequence[Unit],
    *,
    destination: Callable[[], Any],
    dataset_prefix: str = "pardot",
    pipeline_prefix: str = "pardot",
    pipelines_dir: str | None = None,
    on_unit: Callable[[RunSummary], object] | None = None,
    **common_options: Any,
) -> tuple[list[RunSummary], UnitsSummary]:
    """Run each unit in turn into ``<prefix>_<unit name>``; sum up all of them.

    Args:
        units: the business units; their options override ``common_options``.
        destination: makes the dlt destination (a fresh object per unit).
        on_unit: called with each unit's summary as soon as it is done.
    """
    if len({unit.name for unit in units}) != len(units):
        raise ValueError("business unit names must be unique")
    summaries: list[RunSummary] = []
    for unit in units:
        summary = run_sync(
            destination=destination(),
            dataset_name=f"{dataset_prefix}_{unit.name}",
            pipeline_name=f"{pipeline_prefix}_{unit.name}",
            pipelines_dir=pipelines_dir,
            **{**common_options, **unit.options},
        )
        summaries.append(summary)
        if on_unit is not None:
            on_unit(summary)
    return summaries, total(units, summaries)


def total(units: Sequence[Unit], summaries: Sequence[RunSummary]) -> UnitsSummary:
    """The summary of all units: worst exit code, sums of requests and rows."""
    code = worst_exit_code([s.exit_code for s in summaries]) if summaries else EXIT_OK
    rows: dict[str, int] = {}
    for summary in summaries:
        for table, count in summary.rows.items():
            rows[table] = rows.get(table, 0) + count
    outcome = next(s.outcome for s in summaries if s.exit_code == code) if summaries else "complete"
    return UnitsSummary(
        exit_code=code,
        outcome=outcome,
        units={u.name: s.outcome for u, s in zip(units, summaries, strict=True)},
        failed=[u.name for u, s in zip(units, summaries, strict=True) if s.exit_code != EXIT_OK],
        requests=sum(s.requests for s in summaries),
        opportunities=sum(s.opportunities for s in summaries),
        rows=rows,
        seconds=round(sum(s.seconds for s in summaries), 3),
    )
