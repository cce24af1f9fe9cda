"""One command, one run, the same generated data: floor, ours, naive, latency, memory.

``python -m benchmarks.run [--opportunities N] [--latency-opportunities N] [--memory]
[--json PATH]``. Each case runs in its own process (its peak RSS is its own) against an
emulator in yet another process, started with ``--render-cache`` and warmed with one
full pass before anything is timed. See ``benchmarks/README`` text in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .report import case_table, ratio_table, ratios
from .server import ROOT, Emulator

LATENCY = 0.2
UNEVEN_JUMP = 50_000_000
"""The uneven latency case: half the ids, then a jump this far (``--id-jump``)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--opportunities", type=int, default=20_000)
    parser.add_argument("--latency-opportunities", type=int, default=4_000)
    parser.add_argument(
        "--naive-cap",
        type=int,
        default=20_000,
        help="the naive baseline reads at most this many (its rate is used)",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="ours at zero latency")
    parser.add_argument("--memory", action="store_true", help="ours at two sizes, RSS ratio")
    parser.add_argument("--memory-sizes", default="100000,1000000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    return parser


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextmanager
def _emulator(opportunities: int, seed: int, *extra_args: str) -> Iterator[Emulator]:
    emu = Emulator(opportunities, seed, extra_args=list(extra_args))
    try:
        started = time.perf_counter()
        emu.start()
        _log(f"emulator with {opportunities:,} opportunities up")
        emu.warm()
        _log(
            f"warmed: {emu.served:,} live opportunities in {emu.warm_requests} requests, "
            f"{time.perf_counter() - started:.1f} s"
        )
        yield emu
    finally:
        emu.stop()


def run_case(
    key: str, label: str, case: str, emu: Emulator, workdir: Path, **options: Any
) -> dict[str, Any]:
    """One case in its own process; the emulator's log adds requests and the start time."""
    assert emu.endpoint is not None
    emu.reset_requests()
    command = [
        sys.executable, "-m", "benchmarks.cases", case,
        "--base-url", emu.endpoint.base_url,
        "--business-unit-id", emu.endpoint.business_unit_id,
        "--token", emu.endpoint.token,
        "--workdir", str(workdir / key), "--name", f"bench_{key}",
    ]  # fmt: skip
    for option, value in options.items():
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        # with Airflow installed (the dev extra), dlt would look every setting up among
        # Airflow's Variables too, and import Airflow in every case's process
        "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false",
        "DLT_DATA_DIR": str(workdir / "dlt_data"),
    }
    _log(f"{label} ...")
    command += ["--spawned-at", repr(time.time())]
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"case {label} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("exit_code", 0) != 0:
        raise RuntimeError(f"case {label} ended {result['outcome']}: {result['message']}")
    log = emu.requests()
    result["case"] = label
    result["errors_66"] = sum(1 for r in log if r.get("error_code") == 66)
    if case == "floor":
        result["requests"] = result.pop("pages")  # fetched untimed
    else:
        result["requests"] = len(log)
        first = min((float(r["started_at"]) for r in log), default=None)
        end = result.get("load_finished_at")
        if first is not None and end is not None:
            result["seconds"] = end - first  # first request to the end of the load
            # first request to the last answer: the rest of `seconds` is the tail (the
            # last batch, then dlt's normalize and load), which no concurrency shortens
            last = max(float(r["started_at"]) + float(r["duration_seconds"]) for r in log)
            result["fetching"] = last - first
    _log(f"{label}: {result['opportunities']:,} in {result.get('seconds', 0):.2f} s")
    return result


def _main_cases(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], int]:
    n = args.opportunities
    cases: dict[str, dict[str, Any]] = {}
    with _emulator(n, args.seed) as emu:
        cases["floor"] = run_case("floor", "floor", "floor", emu, workdir)
        # One untimed run asks for exactly the pages the timed one will (same data, same
        # ranges): the emulator then serves them pre-rendered, costing us nothing.
        options = {"max_concurrency": args.concurrency}
        run_case("ours_warm", "warming the pages ours asks for", "ours", emu, workdir, **options)
        cases["ours"] = run_case(
            "ours",
            f"ours (c={args.concurrency}, 0 ms)",
            "ours",
            emu,
            workdir,
            **options,
        )
        cap = args.naive_cap if args.naive_cap < emu.served else None
        label = "naive (dicts, dlt defaults)" + (f", cap {cap:,}" if cap else "")
        cases["naive"] = run_case("naive", label, "naive", emu, workdir, limit=cap)
        served = emu.served
    m = args.latency_opportunities
    with _emulator(m, args.seed) as emu:
        # As above: the split ranges' pages, pre-rendered before the clock starts (the
        # emulator's own warm pass already asked for the sequential run's pages).
        warm = {"max_concurrency": 5}
        run_case("latency_warm", "warming the pages of c=5", "ours", emu, workdir, **warm)
        emu.set_latency(LATENCY)  # after the warm passes, which need not wait
        for c in (1, 5):
            label = f"ours (c={c}, 200 ms, n={m:,})"
            key = f"latency_c{c}"
            cases[key] = run_case(key, label, "ours", emu, workdir, max_concurrency=c)
    # The same account with its ids in two blocks far apart: equal id slices would leave
    # most workers idle. Where the timed run cuts its ranges elsewhere than the warm one,
    # the emulator renders those pages while we are timed.
    with _emulator(m, args.seed, "--id-jump", f"{m // 2},{UNEVEN_JUMP}") as emu:
        run_case(
            "uneven_warm", "warming the pages of c=5, uneven ids", "ours", emu, workdir, **warm
        )
        emu.set_latency(LATENCY)
        label = f"ours (c=5, 200 ms, n={m:,}, uneven ids)"
        cases["latency_c5_uneven"] = run_case(
            "latency_c5_uneven", label, "ours", emu, workdir, max_concurrency=5
        )
    return cases, served


def _memory_cases(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    small, big = (int(s) for s in args.memory_sizes.split(","))
    cases: dict[str, dict[str, Any]] = {}
    for key, size in (("memory_small", small), ("memory_big", big)):
        with _emulator(size, args.seed) as emu:
            label = f"ours memory (c={args.concurrency}, n={size:,})"
            cases[key] = run_case(
                key, label, "ours", emu, workdir, max_concurrency=args.concurrency
            )
    return cases


def main(argv: list[str] | None = None) -> int:
    """Run every case, print the two tables, write the JSON."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pardot-bench-") as tmp:
        workdir = Path(tmp)
        cases, served = _main_cases(args, workdir)
        if args.memory:
            cases.update(_memory_cases(args, workdir))
    items = ratios(cases, served)
    print(f"Pardot opportunities benchmark: {served:,} live opportunities served")
    print()
    print(case_table(cases))
    print()
    print(ratio_table(items))
    fetch = cases["floor"].get("fetch_seconds")
    if fetch:
        print(
            f"\nfor scale: fetching the same pages sequentially (raw httpx from the emulator, "
            f"one lxml parse each) runs at {served / fetch:,.0f} opp/s"
        )
    naive = cases["naive"]
    if naive["opportunities"] < served:
        per_second = naive["opportunities"] / naive["seconds"]
        print(
            f"\nnaive capped at {naive['opportunities']:,} of {served:,} opportunities; "
            f"its rate is used, extrapolated time for all: {served / per_second:,.0f} s"
        )
    total = time.perf_counter() - started
    print(f"\nwall time of the whole benchmark: {total:.0f} s")
    if args.json:
        payload = {
            "opportunities": args.opportunities,
            "served": served,
            "latency_opportunities": args.latency_opportunities,
            "latency_seconds": LATENCY,
            "cases": cases,
            "ratios": {r.name: r.to_dict() for r in items},
            "wall_seconds": total,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
