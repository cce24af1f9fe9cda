"""The ratios, their targets, and the two printed tables."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

PAGE_SIZE = 200


@dataclass
class Ratio:
    """One ratio beside its target; ``at_least`` says which side of it is good."""

    name: str
    value: float | None
    target: float
    at_least: bool
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if self.at_least else self.value <= self.target

    def verdict(self) -> str:
        """``met``, or by how much it was missed."""
        if self.value is None:
            return "not measured"
        if self.met:
            return "met"
        gap = abs(self.value - self.target)
        relative = f" ({gap / self.target:.0%} of the target)" if self.target else ""
        side = "short" if self.at_least else "over"
        return f"MISSED: {_num(gap)} {side}{relative}"

    def to_dict(self) -> dict[str, Any]:
        """The ratio, its target, whether it was met, and the verdict text."""
        return {**asdict(self), "met": self.met, "verdict": self.verdict()}


def _num(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 0.1 else f"{value:.2f}"


def rate(case: dict[str, Any] | None) -> float | None:
    """Opportunities per second of a case, or None."""
    if not case or not case.get("seconds"):
        return None
    return float(case["opportunities"]) / float(case["seconds"])


def _rss(case: dict[str, Any] | None) -> float | None:
    return None if case is None else float(case["peak_rss_mb"])


def _over(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def cpu_per_opportunity(case: dict[str, Any] | None, key: str) -> float | None:
    """CPU seconds per opportunity of a case, by one of its CPU figures, or None."""
    if not case or case.get(key) is None or not case.get("opportunities"):
        return None
    return float(case[key]) / float(case["opportunities"])


def _cpu_note(ours: dict[str, Any] | None, floor: dict[str, Any] | None) -> str:
    """The same ratio for the extract alone and for the whole process."""
    base = cpu_per_opportunity(floor, "cpu_run")
    parts = []
    for key, what in (("cpu_extract", "extract alone"), ("cpu_process", "whole process")):
        value = _over(cpu_per_opportunity(ours, key), base)
        if value is not None:
            parts.append(f"{what} {value:.2f}")
    return "run_sync's CPU, all threads; " + "; ".join(parts) if parts else ""


def ratios(cases: dict[str, dict[str, Any]], served: int) -> list[Ratio]:
    """Every ratio of the issue, computed from the cases that ran."""
    ours = rate(cases.get("ours"))
    ideal = max(math.ceil(served / PAGE_SIZE), 1)
    requests = cases.get("ours", {}).get("requests")
    one, five = cases.get("latency_c1"), cases.get("latency_c5")
    latency = [cases[k] for k in ("latency_c1", "latency_c5", "latency_c5_uneven") if k in cases]
    errors = None if five is None or one is None else sum(c["errors_66"] for c in latency)
    small, big = cases.get("memory_small"), cases.get("memory_big")
    return [
        Ratio("ours_over_floor", _over(ours, rate(cases.get("floor"))), 0.5, True),
        Ratio(
            "cpu_per_opp_ours_over_floor",
            _over(
                cpu_per_opportunity(cases.get("ours"), "cpu_run"),
                cpu_per_opportunity(cases.get("floor"), "cpu_run"),
            ),
            3.0,
            False,
            _cpu_note(cases.get("ours"), cases.get("floor")),
        ),
        Ratio("ours_over_naive", _over(ours, rate(cases.get("naive"))), 10.0, True),
        Ratio(
            "concurrency_5_over_1_at_200ms",
            _over(rate(five), rate(one)),
            4.5,
            True,
            _fetching_note(one, five),
        ),
        Ratio("errors_66_at_200ms", None if errors is None else float(errors), 0.0, False),
        Ratio(
            "uneven_over_even_ids_at_c5",
            _over(rate(five), rate(cases.get("latency_c5_uneven"))),
            1.15,
            False,
            "time with the ids in two blocks far apart over time with them evenly spread; "
            "our bound, not the issue's",
        ),
        Ratio(
            "request_overhead",
            None if requests is None else requests / ideal - 1,
            0.01,
            False,
            f"{requests} requests vs ceil({served}/200) = {ideal}; the target is set at N=100,000",
        ),
        Ratio(
            "rss_big_over_small",
            _over(_rss(big), _rss(small)),
            1.3,
            False,
            "" if big and small else "run with --memory",
        ),
    ]


def _fetching_note(one: dict[str, Any] | None, five: dict[str, Any] | None) -> str:
    """The ratio of the fetching alone, and the tail both runs pay after it."""
    if not one or not five or not one.get("fetching") or not five.get("fetching"):
        return "opp/s"
    tails = "/".join(f"{case['seconds'] - case['fetching']:.2f}" for case in (one, five))
    return (
        f"opp/s; fetching alone {one['fetching'] / five['fetching']:.2f}x, "
        f"then a tail of {tails} s (c=1/c=5: last batch, normalize, load)"
    )


COLUMNS = (
    ("case", "", 40),
    ("opportunities", "", 13),
    ("requests", "", 8),
    ("seconds", ".2f", 8),
    ("fetching", ".2f", 8),
    ("opp_per_s", ",.0f", 9),
    ("extract", ".2f", 7),
    ("normalize", ".2f", 9),
    ("load", ".2f", 6),
    ("packages", "", 8),
    ("cpu_run", ".2f", 7),
    ("cpu_extract", ".2f", 11),
    ("startup", ".2f", 7),
    ("imports", ".2f", 7),
    ("peak_rss_mb", ",.0f", 11),
)


def case_table(cases: dict[str, dict[str, Any]]) -> str:
    """One row per case that ran."""
    header = " | ".join(name.ljust(width) for name, _, width in COLUMNS)
    lines = [header, "-|-".join("-" * width for _, _, width in COLUMNS)]
    for case in cases.values():
        row = {**case, "opp_per_s": rate(case)}
        cells = []
        for name, fmt, width in COLUMNS:
            value = row.get(name)
            text = "-" if value is None else (format(value, fmt) if fmt else str(value))
            cells.append(text.ljust(width))
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def ratio_table(items: list[Ratio]) -> str:
    """One row per ratio: value, target, verdict, note."""
    lines = [f"{'ratio':<30} | {'value':>8} | {'target':<9} | verdict", "-" * 78]
    for r in items:
        value = "-" if r.value is None else _num(r.value)
        target = f"{'>=' if r.at_least else '<='} {_num(r.target) if r.target else 0}"
        note = f"  [{r.note}]" if r.note else ""
        lines.append(f"{r.name:<30} | {value:>8} | {target:<9} | {r.verdict()}{note}")
    return "\n".join(lines)
