"""A day of changes: how soon each kind of change reaches the warehouse, and at what cost.

``python -m benchmarks.day [--opportunities N] [--runs R] [--json PATH]``

An account of N opportunities (100,000 by default) is loaded once, half a day before the
simulated day begins (so that a daily full sweep falls inside the day). Then a run every
15 minutes of the emulator's clock, for a day, with a seeded mix of changes between the
runs: new opportunities, status changes (won, lost, reopened), stage, value and
probability edits that keep the status, prospects linked and unlinked, deletes and
undeletes, on old and recent opportunities alike (each change on an opportunity of its
own, so that what the warehouse shows is the change's and nobody else's). After every
run the warehouse is asked which changes it shows.

It reports, per kind of change, how many runs it took until the warehouse showed it
(1: the first run after it), median and worst, and how many it never showed; the
requests of the day; and whether the tables equal the emulator's data at the end. Once
with the old defaults (no event feed, no delete check, full sweep daily), once with the
new ones, and once with the new ones and the v5 update feed. The emulator runs
in-process (no sockets): the figures are requests and runs, not seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import httpx

from pipelines.runner import duckdb_file, run_sync
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

OLD_DEFAULTS: dict[str, Any] = {
    "activity_feed": False,
    "delete_check": False,
    "full_sweep_every_hours": 24,
    "recent_sweep_every_minutes": 60,
}
NEW_DEFAULTS: dict[str, Any] = {}
"""The connector's defaults as they are now (``SyncSettings``)."""
WITH_V5: dict[str, Any] = {"v5_feed": True}
"""The defaults with the v5 update feed on."""
RUN_EVERY = timedelta(minutes=15)
DAY_START = datetime(2024, 6, 3, 0, 0, tzinfo=UTC)
KINDS = (
    "created", "won", "lost", "reopened", "stage", "value", "probability",
    "linked", "unlinked", "deleted", "undeleted",
)  # fmt: skip
PER_DAY = {
    "created": 96, "won": 24, "lost": 16, "reopened": 8, "stage": 24, "value": 16,
    "probability": 16, "linked": 12, "unlinked": 12, "deleted": 8, "undeleted": 4,
}  # fmt: skip
"""How many changes of each kind the day holds."""
EDITS = ("stage", "value", "probability")
"""Edits that keep the status: Pardot records no event for them."""


@dataclass
class Change:
    """One change, made before run ``before_run``; ``shown`` checks the warehouse."""

    kind: str
    opportunity_id: int
    before_run: int
    recent: bool
    shown: Callable[[duckdb.DuckDBPyConnection], bool]
    shown_after: int | None = None
    """Runs from the change until the warehouse showed it (1: the next run)."""


@dataclass
class Day:
    """The outcome of one simulated day."""

    name: str
    requests: int = 0
    runs: int = 0
    scans: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    exact: bool = False
    differences: list[str] = field(default_factory=list)


def _one(sql: str, *params: Any) -> Callable[[duckdb.DuckDBPyConnection], bool]:
    def check(connection: duckdb.DuckDBPyConnection) -> bool:
        try:
            row = connection.execute(sql, list(params)).fetchone()
        except duckdb.CatalogException:
            return False
        return bool(row and row[0])

    return check


def _plan(emulator: PardotEmulator, runs: int, seed: int) -> list[Change]:
    """The day's changes, spread over the runs, on opportunities of their own."""
    rng = random.Random(seed)
    truth = emulator.ground_truth()
    now = emulator.now()
    live = [o for o in truth["opportunities"] if not o["is_deleted"]]
    deleted = [o["id"] for o in truth["opportunities"] if o["is_deleted"]]
    recent_after = (now - timedelta(days=30)).isoformat()
    recent = [o for o in live if o["created_at"] >= recent_after]
    old = [o for o in live if o["created_at"] < recent_after]
    rng.shuffle(recent)
    rng.shuffle(old)
    links: dict[int, set[int]] = {}
    for link in truth["opportunity_prospects"]:
        links.setdefault(link["opportunity_id"], set()).add(link["prospect_id"])
    prospects = [p["id"] for p in truth["prospects"]]
    changes: list[Change] = []
    scale = runs / 96

    def pick(kind: str, index: int) -> dict[str, Any]:
        pool = recent if index % 2 == 0 and recent else old
        while True:
            candidate = pool.pop()
            status = candidate["status"] or "open"
            if kind in ("won", "lost") and status != "open":
                continue
            if kind == "reopened" and status == "open":
                continue
            if kind == "unlinked" and not links.get(candidate["id"]):
                continue
            return candidate

    for kind in KINDS:
        for index in range(max(1, round(PER_DAY[kind] * scale))):
            before = rng.randrange(runs)
            if kind == "created":
                changes.append(Change(kind, 0, before, True, lambda c: False))
                continue
            if kind == "undeleted":
                target = deleted.pop(rng.randrange(len(deleted)))
                changes.append(
                    Change(kind, target, before, False, _one(
                        "select not is_deleted from pardot.opportunities where id = ?", target
                    ))
                )  # fmt: skip
                continue
            row = pick(kind, index)
            target = row["id"]
            is_recent = row["created_at"] >= recent_after
            sql = {
                "won": "select status = 'won' from pardot.opportunities where id = ?",
                "lost": "select status = 'lost' from pardot.opportunities where id = ?",
                "reopened": "select status = 'open' from pardot.opportunities where id = ?",
                "stage": "select stage = 'Day stage' from pardot.opportunities where id = ?",
                "value": "select value = 123456.0 from pardot.opportunities where id = ?",
                "probability": "select probability = 42 from pardot.opportunities where id = ?",
                "deleted": "select is_deleted from pardot.opportunities where id = ?",
            }.get(kind)
            if kind == "linked":
                prospect = rng.choice([p for p in prospects if p not in links.get(target, set())])
                row["_prospect"] = prospect
                check = _one(
                    "select count(*) from pardot.opportunity_prospects "
                    "where opportunity_id = ? and prospect_id = ?", target, prospect,
                )  # fmt: skip
            elif kind == "unlinked":
                prospect = sorted(links[target])[0]
                row["_prospect"] = prospect
                check = _one(
                    "select count(*) = 0 from pardot.opportunity_prospects "
                    "where opportunity_id = ? and prospect_id = ?", target, prospect,
                )  # fmt: skip
            else:
                assert sql is not None
                check = _one(sql, target)
            change = Change(kind, target, before, is_recent, check)
            change.__dict__["row"] = row
            changes.append(change)
    return changes


def _apply(emulator: PardotEmulator, change: Change) -> None:
    row = change.__dict__.get("row", {})
    target = change.opportunity_id
    if change.kind == "created":
        (new,) = emulator.add_opportunities(1)
        change.opportunity_id = new
        change.shown = _one("select count(*) from pardot.opportunities where id = ?", new)
    elif change.kind in ("won", "lost"):
        emulator.update_opportunity(target, status=change.kind)
    elif change.kind == "reopened":
        emulator.update_opportunity(target, status="open")
    elif change.kind == "stage":
        emulator.update_opportunity(target, stage="Day stage")
    elif change.kind == "value":
        emulator.update_opportunity(target, value=123456.0)
    elif change.kind == "probability":
        emulator.update_opportunity(target, probability=42)
    elif change.kind == "linked":
        emulator.link_prospect(target, row["_prospect"])
    elif change.kind == "unlinked":
        emulator.unlink_prospect(target, row["_prospect"])
    elif change.kind == "deleted":
        emulator.delete_opportunity(target)
    elif change.kind == "undeleted":
        emulator.undelete_opportunity(target)


def simulate(
    name: str, settings: dict[str, Any], *, opportunities: int, runs: int, seed: int
) -> Day:
    """One day with ``settings``; the same account and changes for every ``settings``."""
    emulator = PardotEmulator(
        EmulatorConfig(
            opportunities=opportunities,
            seed=seed,
            realtime_clock=False,
            render_cache=True,
            clock_start=DAY_START - timedelta(hours=12),
        )
    )
    http = httpx.Client(transport=httpx.WSGITransport(app=emulator.app))
    day = Day(name)
    with tempfile.TemporaryDirectory(prefix="pardot-day-") as folder:
        database = Path(folder) / "day.duckdb"

        def run() -> Any:
            summary = run_sync(
                destination=duckdb_file(str(database)),
                pipelines_dir=str(Path(folder) / "pipelines"),
                base_url="https://pi.pardot.test",
                business_unit_id=emulator.config.business_unit_id,
                credentials={"access_token": emulator.config.default_token},
                timezone=emulator.config.timezone,
                http=http,
                now=emulator.now(),
                **settings,
            )
            if summary.exit_code != 0:
                raise RuntimeError(f"{name}: a run failed: {summary.message}")
            return summary

        run()  # the backfill, half a day earlier: not counted
        emulator.advance_clock(12 * 3600)
        day.changes = _plan(emulator, runs, seed)
        rng = random.Random(seed + 1)
        for index in range(runs):
            due = [c for c in day.changes if c.before_run == index]
            # the changes happen during the quarter hour before the run
            offsets = sorted(rng.uniform(0, RUN_EVERY.total_seconds() - 1) for _ in due)
            elapsed = 0.0
            for change, offset in zip(due, offsets, strict=True):
                emulator.advance_clock(offset - elapsed)
                elapsed = offset
                _apply(emulator, change)
            emulator.advance_clock(RUN_EVERY.total_seconds() - elapsed)
            summary = run()
            day.requests += summary.requests
            day.runs += 1
            day.scans[summary.scan] = day.scans.get(summary.scan, 0) + 1
            with duckdb.connect(str(database), read_only=True) as connection:
                for change in day.changes:
                    waiting = change.before_run <= index and change.shown_after is None
                    if waiting and change.shown(connection):
                        change.shown_after = index - change.before_run + 1
            print(
                f"[day {name}] run {index + 1}/{runs}: {summary.scan}, {summary.requests} requests",
                file=sys.stderr,
                flush=True,
            )
        day.differences = _differences(database, emulator)
        day.exact = not day.differences
    return day


def _differences(database: Path, emulator: PardotEmulator) -> list[str]:
    """What the warehouse holds otherwise than the emulator (empty: exact)."""
    truth = emulator.ground_truth()
    out: list[str] = []
    with duckdb.connect(str(database), read_only=True) as connection:
        loaded = {
            row[0]: row[1:]
            for row in connection.execute(
                "select id, status, stage, value, probability, is_deleted from pardot.opportunities"
            ).fetchall()
        }
        links = set(
            connection.execute(
                "select opportunity_id, prospect_id from pardot.opportunity_prospects"
            ).fetchall()
        )
        try:
            activities = {
                row[0]
                for row in connection.execute("select id from pardot.visitor_activities").fetchall()
            }
        except duckdb.CatalogException:  # never loaded a single activity
            activities = set()
    expected_ids = set()
    for o in truth["opportunities"]:
        row = loaded.get(o["id"])
        if row is None:
            if not o["is_deleted"]:
                out.append(f"opportunity {o['id']} missing")
            continue
        expected_ids.add(o["id"])
        want = (o["status"] or None, o["stage"], o["value"], o["probability"], o["is_deleted"])
        if not o["is_deleted"] and tuple(row) != want:
            out.append(f"opportunity {o['id']}: {tuple(row)} != {want}")
        if o["is_deleted"] and not row[-1]:
            out.append(f"opportunity {o['id']} not marked deleted")
    live_links = {
        (link["opportunity_id"], link["prospect_id"])
        for link in truth["opportunity_prospects"]
        if link["opportunity_id"] in expected_ids
    }
    if links != live_links:
        out.append(f"links: {len(links - live_links)} extra, {len(live_links - links)} missing")
    want_activities = {
        a["id"] for a in truth["visitor_activities"] if a["opportunity_id"] in expected_ids
    }
    if activities != want_activities:
        out.append(
            f"activities: {len(activities - want_activities)} extra, "
            f"{len(want_activities - activities)} missing"
        )
    return out


def table(days: list[Day]) -> str:
    """Per kind of change and day: runs until shown (median, worst), never shown."""
    lines = ["| kind | changes | " + " | ".join(
        f"{d.name}: runs until shown, median / worst (never)" for d in days
    ) + " |", "|---|---|" + "---|" * len(days)]  # fmt: skip
    rows: list[tuple[str, str, bool | None]] = []
    for kind in KINDS:
        if kind in EDITS:  # no event: recent and old opportunities differ
            rows += [(f"{kind}, recent", kind, True), (f"{kind}, old", kind, False)]
        else:
            rows.append((kind, kind, None))

    def matching(kind: str, recent: bool | None) -> Callable[[Change], bool]:
        return lambda c: c.kind == kind and (recent is None or c.recent == recent)

    for label, kind, recent in rows:
        matches = matching(kind, recent)
        cells = []
        for d in days:
            mine = [c for c in d.changes if matches(c)]
            shown = [c.shown_after for c in mine if c.shown_after is not None]
            never = len(mine) - len(shown)
            median = statistics.median(shown) if shown else "-"
            worst = max(shown) if shown else "-"
            cells.append(f"{median} / {worst}" + (f" ({never} never)" if never else ""))
        count = len([c for c in days[0].changes if matches(c)])
        lines.append(f"| {label} | {count} | " + " | ".join(cells) + " |")
    lines.append("| requests for the day | | " + " | ".join(f"{d.requests:,}" for d in days) + " |")
    lines.append("| scans (new/recent/full) | | " + " | ".join(
        f"{d.scans.get('new', 0)}/{d.scans.get('recent', 0)}/{d.scans.get('full', 0)}"
        for d in days
    ) + " |")  # fmt: skip
    lines.append("| tables exact at the end | | " + " | ".join(
        "yes" if d.exact else "no: " + "; ".join(d.differences[:3]) for d in days
    ) + " |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Simulate the day with the old defaults and the new; print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.day")
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=96, help="runs of the day, 15 min apart")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    dlt.config["runtime.dlthub_telemetry"] = False
    started = time.perf_counter()
    days = [
        simulate(name, settings, opportunities=args.opportunities, runs=args.runs, seed=args.seed)
        for name, settings in (
            ("old defaults", OLD_DEFAULTS),
            ("new defaults", NEW_DEFAULTS),
            ("with v5_feed", WITH_V5),
        )
    ]
    print(table(days))
    print(f"\nwall time: {time.perf_counter() - started:.0f} s")
    if args.json:
        payload = [
            {
                "name": d.name,
                "requests": d.requests,
                "scans": d.scans,
                "exact": d.exact,
                "differences": d.differences,
                "changes": [
                    {"kind": c.kind, "recent": c.recent, "shown_after": c.shown_after}
                    for c in d.changes
                ],
            }
            for d in days
        ]
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
