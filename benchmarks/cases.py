"""The case bodies, each run in its own process: ``python -m benchmarks.cases CASE ...``.

Each prints one line of JSON last: what it read, its timings, dlt's extract / normalize
/ load split where there is one, its start-up and import time, and its peak RSS. The
orchestrator (``benchmarks.run``) adds what only the emulator knows: the requests it
served and when the first of them arrived.
"""

from __future__ import annotations

import time

_STARTED = time.time()  # before any heavy import: start-up is measured up to here

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

CASES = ("floor", "ours", "naive")
EMULATOR_TIMEZONE = "America/New_York"
"""The emulator's default API-user time zone (``serve --timezone``)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cases")
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--business-unit-id", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--name", default="bench")
    parser.add_argument("--limit", type=int, default=None, help="naive: stop after N")
    parser.add_argument("--max-concurrency", type=int, default=4)
    parser.add_argument("--checkpoint-every", type=int, default=None, help="ours: run_sync's")
    parser.add_argument("--spawned-at", type=float, default=_STARTED)
    return parser


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _steps(traces: list[Any]) -> dict[str, Any]:
    """Seconds of dlt's extract, normalize and load steps over all of a run's packages
    (one per checkpoint, and the last), and when the last load finished."""
    out: dict[str, Any] = {"extract": None, "normalize": None, "load": None}
    finished_at = None
    for trace in traces:
        for step in getattr(trace, "steps", None) or []:
            if step.step in out and step.started_at and step.finished_at:
                seconds = (step.finished_at - step.started_at).total_seconds()
                out[step.step] = (out[step.step] or 0.0) + seconds
                if step.step == "load":
                    finished_at = step.finished_at.timestamp()
    out["load_finished_at"] = finished_at
    out["packages"] = len(traces)
    return out


def _recording_traces() -> list[Any]:
    """Every ``pipeline.run``'s trace from now on: a checkpointed run makes several."""
    import dlt

    traces: list[Any] = []
    run = dlt.Pipeline.run

    def recorded(self: dlt.Pipeline, *args: Any, **kwargs: Any) -> Any:
        try:
            return run(self, *args, **kwargs)
        finally:
            traces.append(self.last_trace)

    dlt.Pipeline.run = recorded  # type: ignore[method-assign]
    return traces


def _recording_cpu() -> dict[str, float]:
    """CPU seconds of the whole process (every thread) spent in each of dlt's steps,
    summed over a run's packages: ``pipeline.run`` calls ``extract``, ``normalize`` and
    ``load``, each wrapped here."""
    import dlt

    spent = {"cpu_extract": 0.0, "cpu_normalize": 0.0, "cpu_load": 0.0}

    def wrap(step: str) -> None:
        method = getattr(dlt.Pipeline, step)

        def timed(self: dlt.Pipeline, *args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return method(self, *args, **kwargs)
            finally:
                spent[f"cpu_{step}"] += time.process_time() - started

        setattr(dlt.Pipeline, step, timed)

    for step in ("extract", "normalize", "load"):
        wrap(step)
    return spent


def _process_cpu() -> float:
    """CPU seconds of this process so far, start-up and imports included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def floor(args: argparse.Namespace) -> dict[str, Any]:
    """lxml parse of every page plus one visit of each element's text; nothing else.

    Pages are fetched untimed; only ``etree.fromstring`` and the ``iter`` loop count.
    """
    started = time.time()
    from lxml import etree

    from .server import Endpoint, iter_pages

    imports = time.time() - started
    endpoint = Endpoint(args.base_url, args.business_unit_id, args.token)
    parse_seconds = cpu = 0.0
    pages = opportunities = 0
    loop_started = time.perf_counter()
    for body, fetched in iter_pages(endpoint, limit=args.limit):
        pages += 1
        opportunities += len(fetched.findall("result/opportunity"))
        t0, c0 = time.perf_counter(), time.process_time()
        for el in etree.fromstring(body).iter():
            el.text  # noqa: B018  # the visit is the point
        parse_seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
    return {
        "opportunities": opportunities,
        "pages": pages,
        "seconds": parse_seconds,
        "cpu_run": cpu,
        # The untimed part: sequential HTTP from the emulator plus one lxml parse a page.
        "fetch_seconds": time.perf_counter() - loop_started - parse_seconds,
        "imports": imports,
    }


def ours(args: argparse.Namespace) -> dict[str, Any]:
    """The connector end to end: ``run_sync`` into a fresh DuckDB file."""
    started = time.time()
    import dlt  # noqa: F401  # timed with the imports

    from pipelines.runner import duckdb_file, run_sync

    imports = time.time() - started
    pipelines_dir = str(args.workdir / "pipelines")
    traces = _recording_traces()
    cpu = _recording_cpu()
    cpu_started = time.process_time()
    summary = run_sync(
        # the destination `pardot-sync run` uses by default, DuckDB settings included
        destination=duckdb_file(str(args.workdir / f"{args.name}.duckdb")),
        pipelines_dir=pipelines_dir,
        dataset_name="pardot",
        pipeline_name=args.name,
        base_url=args.base_url,
        business_unit_id=args.business_unit_id,
        credentials={"access_token": args.token},
        timezone=EMULATOR_TIMEZONE,
        max_concurrency=args.max_concurrency,
        page_size=200,
        checkpoint_every=args.checkpoint_every,
        # The backfill's scan against the parse floor. The event feed's history would add
        # ceil(E / 200) requests of its own (E events); its cost is the README's, its
        # day-to-day behaviour benchmarks.day's.
        activity_feed=False,
    )
    return {
        "opportunities": summary.opportunities,
        "client_requests": summary.requests,
        "exit_code": summary.exit_code,
        "outcome": summary.outcome,
        "message": summary.message,
        "run_sync_seconds": summary.seconds,
        "imports": imports,
        "cpu_run": time.process_time() - cpu_started,
        **cpu,
        **_steps(traces),
    }


def naive(args: argparse.Namespace) -> dict[str, Any]:
    """A plain dlt resource of dict rows, one page at a time, sequential httpx, defaults."""
    started = time.time()
    import dlt

    from .naive import naive_opportunities
    from .server import Endpoint

    imports = time.time() - started
    endpoint = Endpoint(args.base_url, args.business_unit_id, args.token)
    counter = {"opportunities": 0}
    pipeline = dlt.pipeline(
        pipeline_name=args.name,
        destination=dlt.destinations.duckdb(str(args.workdir / f"{args.name}.duckdb")),
        dataset_name="naive",
        pipelines_dir=str(args.workdir / "pipelines"),
    )
    pipeline.run(naive_opportunities(endpoint, args.limit, counter))
    return {
        "opportunities": counter["opportunities"],
        "imports": imports,
        **_steps([pipeline.last_trace]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run one case; print its JSON line."""
    args = _parser().parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = {"floor": floor, "ours": ours, "naive": naive}[args.case](args)
    result["startup"] = max(_STARTED - args.spawned_at, 0.0)
    result["peak_rss_mb"] = _peak_rss_mb()
    result["cpu_process"] = _process_cpu()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
