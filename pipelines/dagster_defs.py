"""Dagster definitions: the Pardot sync as a software-defined asset, via ``dagster-dlt``.

``dagster dev -m pipelines.dagster_defs`` (install with ``pip install -e '.[dagster]'``).
Configuration is dlt's, as for ``pardot-sync run`` (``.dlt/`` files or ``SOURCES__PARDOT__…``
variables), read when the asset runs, not when Dagster imports this module.

The asset body does what ``run_sync`` does around ``pipeline.run``: finish an
interrupted run's packages first (else dlt would load only those and skip the new
data), create the analysts' views, and fail the step when the source stopped early
(a rejected token, the daily limit), which dlt alone would report as a success.
"""

from collections.abc import Iterator
from typing import Any

import dlt
from dagster import AssetExecutionContext, AssetsDefinition, Definitions, Failure
from dagster_dlt import DagsterDltResource, dlt_assets

from sources.pardot import PardotCredentials, SyncReport, pardot_source

from .runner import default_destination
from .views import create_views

PLACEHOLDER_UNIT = "0Uv000000000000AAA"
"""Dagster derives the asset keys from a source object when it imports the definitions;
that object is never run, so it needs no real business unit or credentials."""


def build_pardot_assets(
    *,
    destination: Any = None,
    dataset_name: str = "pardot",
    pipeline_name: str = "pardot",
    pipelines_dir: str | None = None,
    **source_options: Any,
) -> AssetsDefinition:
    """The ``dlt_pardot_opportunities`` asset (one dlt resource; it fills five tables).

    Args:
        destination: a dlt destination (default: DuckDB file ``pardot_sync.duckdb``).
        source_options: passed to ``pardot_source`` at run time (override dlt config).
    """
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination if destination is not None else default_destination("duckdb"),
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir,  # type: ignore[arg-type]  # None = dlt's default
        # The step's log shows the extract (the source's pages, opportunities and
        # requests) beside dlt's normalize and load.
        progress=dlt.progress.log(),
    )
    placeholder = PardotCredentials(access_token="unused")  # noqa: S106 - never sent
    shape = pardot_source(business_unit_id=PLACEHOLDER_UNIT, credentials=placeholder)

    @dlt_assets(dlt_source=shape, dlt_pipeline=pipeline, name="pardot", group_name="pardot")
    def pardot_assets(
        context: AssetExecutionContext, pardot_dlt: DagsterDltResource
    ) -> Iterator[Any]:
        report = SyncReport()
        # One load package per materialization: the asset runs the source once.
        source = pardot_source(report=report, **{"checkpoint_every": 0, **source_options})
        if pipeline.has_pending_data:
            context.log.warning("finishing the load packages of an interrupted run first")
            pipeline.run()
        yield from pardot_dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline)
        create_views(pipeline)
        context.log.info(
            f"pardot: scan {report.scan}, {report.opportunities} opportunities, "
            f"{report.requests} requests"
        )
        if report.outcome != "complete":
            raise Failure(
                description=f"Pardot sync stopped early: {report.error}",
                metadata={"outcome": report.outcome, "requests": report.requests},
            )

    return pardot_assets


RESOURCES = {"pardot_dlt": DagsterDltResource()}
"""The resource the asset asks for by name."""

defs = Definitions(assets=[build_pardot_assets()], resources=RESOURCES)
