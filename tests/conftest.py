"""Test isolation: no user config, no secrets, no telemetry, a private dlt data dir."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sources.pardot as pardot_package
from sources.pardot.client import PardotClient


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in its own folder with a clean dlt environment.

    dlt reads ``.dlt/`` in the working directory and ``SOURCES__PARDOT__…`` variables:
    tests must never pick up a developer's real account or secrets.
    """
    for name in list(os.environ):
        if name.startswith(("SOURCES__", "DESTINATION__", "PIPELINES__", "RUNTIME__")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


SLEEP_SCALE = 0.02
"""Backoff sleeps (jittered backoff and Retry-After) last 2% of what the client asks."""


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make the source build its client with scaled-down sleeps; returns the asked delays."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(seconds * SLEEP_SCALE)

    monkeypatch.setattr(
        pardot_package, "PardotClient", functools.partial(PardotClient, sleep=sleep)
    )
    return asked
