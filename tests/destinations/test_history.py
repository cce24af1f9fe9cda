"""``opportunity_history`` on DuckDB, PostgreSQL and Delta tables: one row per real change.

Edits, status changes, deletes and undeletes over several runs; after each, the loaded
history equals what the emulator's ground truth says it must hold (``HistoryModel``),
and a full sweep over unchanged data adds no row.
"""

from __future__ import annotations

from tests.e2e.conftest import Harness
from tests.e2e.history_truth import HistoryModel, assert_history_matches

from .conftest import Target
from .test_ground_truth import live, run  # noqa: F401 (the fixture)

SWEEP = {"full_sweep_every_hours": 0}
NO_SWEEPS = {"full_sweep_every_hours": -1, "recent_sweep_every_minutes": -1}


def test_history_has_one_row_per_change_on_every_destination(
    live: Harness,  # noqa: F811
    target: Target,
) -> None:
    emulator, model = live.emulator, HistoryModel()
    first = run(live, target)
    model.observe(emulator)
    assert first.rows["opportunity_history"] == first.opportunities
    assert_history_matches(target.warehouse(), model)

    ids = sorted(o["id"] for o in emulator.ground_truth()["opportunities"] if not o["is_deleted"])
    campaigns = [c["id"] for c in emulator.ground_truth()["campaigns"]]
    emulator.update_opportunity(ids[0], stage="Negotiation")  # no event: the sweep sees it
    emulator.update_opportunity(ids[1], value=12.5, probability=35, name="Bigger deal")
    emulator.update_opportunity(ids[2], status="won")
    emulator.update_opportunity(ids[3], campaign_id=campaigns[-1], type=None)
    emulator.delete_opportunity(ids[4])
    second = run(live, target, **SWEEP)
    model.observe(emulator)
    assert second.rows["opportunity_history"] == 5
    assert_history_matches(target.warehouse(), model)

    unchanged = run(live, target, **SWEEP)
    assert unchanged.opportunities == len(ids) - 1
    assert unchanged.rows["opportunity_history"] == 0, "a sweep over unchanged data adds nothing"
    assert_history_matches(target.warehouse(), model)

    # What the events and the delete check show, without a sweep.
    emulator.undelete_opportunity(ids[4])
    emulator.update_opportunity(ids[2], status="open")
    emulator.update_opportunity(ids[5], status="lost")
    emulator.delete_opportunity(ids[6])
    fourth = run(live, target, **NO_SWEEPS)
    model.observe(emulator)
    assert fourth.rows["opportunity_history"] == 4
    assert_history_matches(target.warehouse(), model)

    if target.table_format is None:  # the views: on every SQL destination
        versions = target.warehouse().query(
            f"select version, valid_to is null from opportunity_versions "
            f"where opportunity_id = {ids[4]} order by version"
        )
        assert [tuple(v) for v in versions] == [(1, False), (2, False), (3, True)]
        stays = target.warehouse().query(
            f"select stage, left_at is null from stage_durations where opportunity_id = {ids[0]}"
            " order by entered_at"
        )
        assert [tuple(s) for s in stays][-1] == ("Negotiation", True)
