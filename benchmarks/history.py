"""What the history costs: seconds per run and state size, with it and without.

``python -m benchmarks.history [--opportunities N] [--changes C] [--json PATH]``

One account of N opportunities (1,000,000 by default), in-process (no sockets), loaded
into two DuckDB files side by side: one pipeline with ``history`` on, one with it off
(the floor, measured in the same process). Each makes the same runs:

1. the backfill (a full sweep): every opportunity gets its ``first_seen`` version;
2. after C changes (stage edits and wins), a full sweep: the history compares every
   opportunity with its last version and records the C changes;
3. an idle run (three requests);

then the pipeline without history turns it on: its next run (no sweep) starts the
history from its warehouse rows. For each run: seconds with and without history, the
seconds spent in the history's own code (comparing, and reading versions back), the
history rows written, and the size of the pipeline's state.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dlt
import httpx

from pipelines.runner import duckdb_file, run_sync
from sources.pardot import SyncReport
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

SWEEP = {"full_sweep_every_hours": 0}
NO_SWEEPS = {"full_sweep_every_hours": -1, "recent_sweep_every_minutes": -1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history")
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    dlt.config["runtime.dlthub_telemetry"] = False
    started = time.perf_counter()
    emulator = PardotEmulator(
        EmulatorConfig(
            opportunities=args.opportunities,
            seed=args.seed,
            realtime_clock=False,
            render_cache=True,
        )
    )
    print(f"[history] emulator ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    http = httpx.Client(transport=httpx.WSGITransport(app=emulator.app))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pardot-history-") as folder:

        def run(name: str, history: bool, **options: Any) -> dict[str, Any]:
            reports: list[SyncReport] = []
            summary = run_sync(
                destination=duckdb_file(str(Path(folder) / f"{name}.duckdb")),
                pipeline_name=name,
                pipelines_dir=str(Path(folder) / "pipelines"),
                base_url="https://pi.pardot.test",
                business_unit_id=emulator.config.business_unit_id,
                credentials={"access_token": emulator.config.default_token},
                timezone=emulator.config.timezone,
                http=http,
                now=emulator.now(),
                history=history,
                checkpoint_every=0,
                progress=reports.append,  # the run's report, for its history_seconds
                **options,
            )
            if summary.exit_code != 0:
                raise RuntimeError(f"{name}: {summary.message}")
            pipeline = dlt.pipeline(name, pipelines_dir=str(Path(folder) / "pipelines"))
            state = json.dumps(pipeline.state.get("sources", {}), default=str)
            print(
                f"[history] {name}: {summary.scan} {summary.seconds:.1f} s "
                f"(history code {reports[-1].history_seconds:.1f} s), "
                f"{summary.rows.get('opportunity_history', 0):,} history rows",
                file=sys.stderr,
                flush=True,
            )
            return {
                "seconds": summary.seconds,
                "history_seconds": reports[-1].history_seconds,
                "history_rows": summary.rows.get("opportunity_history", 0),
                "state_bytes": len(state),
            }

        def both(step: str, **options: Any) -> None:
            on = run("with_history", True, **options)
            off = run("without_history", False, **options)
            rows.append({"step": step, "on": on, "off": off})

        both("backfill (full sweep)", **SWEEP)
        rng = random.Random(args.seed)
        live = [o.id for o in emulator.store.opportunities.values() if not o.deleted]
        stages = sorted({o.stage for o in emulator.store.opportunities.values() if o.stage})
        for index, opportunity in enumerate(rng.sample(live, args.changes)):
            if index % 2:
                emulator.update_opportunity(opportunity, stage=rng.choice(stages))
            else:
                emulator.update_opportunity(opportunity, status="won")
        emulator.advance_clock(3600)
        both(f"full sweep after {args.changes:,} changes", **SWEEP)
        emulator.advance_clock(3600)
        both("idle run", **NO_SWEEPS)
        emulator.advance_clock(3600)
        seeded = run("without_history", True, **NO_SWEEPS)
        rows.append({"step": "history turned on (started from the warehouse)", "on": seeded})
    print(_table(rows))
    print(f"\nwall time: {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| run | with history: s (in its code) | without: s | history rows "
        "| state bytes with / without |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        on, off = row["on"], row.get("off")
        off_seconds = "-" if off is None else f"{off['seconds']:.1f}"
        off_state = "-" if off is None else f"{off['state_bytes']:,}"
        lines.append(
            f"| {row['step']} | {on['seconds']:.1f} ({on['history_seconds']:.1f}) | "
            f"{off_seconds} | {on['history_rows']:,} | {on['state_bytes']:,} / {off_state} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
