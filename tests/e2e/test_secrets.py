"""Secrets never leave the connector: not in output, logs, traces, state, files or errors.

Known, unique secret values are configured (client secret, refresh token, password,
static access token) and the emulator issues access tokens that are recorded too. With
debug logging on, successful and failing syncs run in process and one through the CLI
(``--log-level debug``); then everything they produced is searched: stdout, stderr, log
records (messages, arguments, exception texts), the dlt trace (``str`` and JSON) and its
file under the pipelines folder, the pipeline state, every file in the pipelines folder
(load packages included), the DuckDB file's bytes, and the messages and reprs of
exceptions. Zero hits allowed.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import dlt
import pytest

from pipelines.runner import RunSummary
from sources.pardot import pardot_source
from sources.pardot_emulator import EmulatorConfig, FaultConfig

from .conftest import Harness, start_harness
from .test_process import pardot_sync

CLIENT_SECRET = "CsEcReT-9f3Kq7Lm2Zx"
REFRESH_TOKEN = "RfTok-5H8jWq2Vn4Pa"
PASSWORD = "PwD-x7Tg3Rk9Ye1Bm"
ACCESS_TOKEN = "AcTok-2Nc6Ju8Qs4Wd"
CONFIGURED = (CLIENT_SECRET, REFRESH_TOKEN, PASSWORD, ACCESS_TOKEN)


@pytest.fixture
def harness(isolated_environment: Path) -> Iterator[Harness]:
    config = EmulatorConfig(
        opportunities=120,
        seed=19,
        realtime_clock=False,
        default_token=ACCESS_TOKEN,
        oauth_clients={"emulator-client": CLIENT_SECRET},
        oauth_users={"api@example.com": PASSWORD},
        refresh_tokens=(REFRESH_TOKEN,),
        token_error_status=400,
    )
    yield from start_harness(isolated_environment, config, page_size=50)


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    root.setLevel(level)


def refresh(harness: Harness, **changes: str) -> dict[str, str]:
    return {
        "client_id": "emulator-client",
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "token_url": harness.base_url + "/services/oauth2/token",
        **changes,
    }


def password(harness: Harness, **changes: str) -> dict[str, str]:
    return {
        "client_id": "emulator-client",
        "client_secret": CLIENT_SECRET,
        "username": "api@example.com",
        "password": PASSWORD,
        "token_url": harness.base_url + "/services/oauth2/token",
        **changes,
    }


def issued_tokens(harness: Harness) -> list[str]:
    """Access tokens the emulator handed out (besides the static one)."""
    return [t for t in harness.emulator.tokens._tokens if t != ACCESS_TOKEN]


def exception_texts(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(getattr(seen, "__dict__", {}))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def produced(harness: Harness, pipelines_dir: Path) -> dict[str, bytes]:
    """Everything the runs left behind, by where it was found."""
    found: dict[str, bytes] = {}
    for base in (pipelines_dir, Path(os.environ["DLT_DATA_DIR"]), harness.root / ".dlt"):
        if base.exists():
            for path in base.rglob("*"):
                if path.is_file():
                    found[str(path)] = path.read_bytes()
    for path in harness.root.glob("*.duckdb*"):
        found[str(path)] = path.read_bytes()
    for name in ("pardot",):
        if (pipelines_dir / name).exists():
            pipeline = dlt.attach(pipeline_name=name, pipelines_dir=str(pipelines_dir))
            found["pipeline.state"] = json.dumps(pipeline.state, default=str).encode()
            trace = pipeline.last_trace
            if trace is not None:
                found["trace.str"] = str(trace).encode()
                found["trace.json"] = json.dumps(trace.asdict(), default=str).encode()
    return found


def assert_no_secret_in(texts: dict[str, bytes | str], secrets: list[str]) -> None:
    hits = []
    for where, content in texts.items():
        data = content.encode() if isinstance(content, str) else content
        for secret in secrets:
            for encoded in {secret.encode(), secret.encode("utf-16-le")}:
                if encoded in data:
                    hits.append(f"{secret[:6]}… in {where}")
    assert not hits, hits


@pytest.mark.usefixtures("quick_backoff")
def test_no_secret_in_anything_a_run_produces(
    harness: Harness, debug_logging: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    summaries: list[RunSummary] = []
    errors: list[BaseException] = []
    emulator = harness.emulator

    # Successes: the static token (before any expiry revokes it), then the refresh-token
    # grant with tokens expiring (184 over HTTP 400) mid-run, then the password grant.
    summaries.append(harness.run())
    emulator.set_faults(FaultConfig(token_expiry_after_requests=2))
    emulator.add_opportunities(60)
    summaries.append(harness.run(credentials=refresh(harness), full_sweep_every_hours=0))
    emulator.add_opportunities(60)
    summaries.append(harness.run(credentials=password(harness)))
    emulator.set_faults(FaultConfig())
    assert [s.exit_code for s in summaries] == [0, 0, 0], summaries
    assert emulator.request_count("token") >= 1

    # Failures: rejected secret, rejected refresh token, bad password, a static token
    # that expires, a token URL without TLS, the network down, a malformed token.
    failing: list[dict[str, Any]] = [
        {"credentials": refresh(harness, client_secret=CLIENT_SECRET + "x")},
        {"credentials": refresh(harness, refresh_token=REFRESH_TOKEN + "x")},
        {"credentials": password(harness, password=PASSWORD + "x")},
        {"credentials": refresh(harness, token_url="http://login.example.com/" + REFRESH_TOKEN)},
        {"credentials": {"access_token": ACCESS_TOKEN + " " + REFRESH_TOKEN}},
        {"base_url": "http://pi.pardot.com/" + ACCESS_TOKEN},
    ]
    for overrides in failing:
        summaries.append(harness.run(**overrides))
    emulator.set_faults(FaultConfig(drop_rate=1.0))
    summaries.append(harness.run(credentials=refresh(harness)))
    emulator.set_faults(FaultConfig(token_expiry_after_requests=1))
    emulator.add_opportunities(60)
    summaries.append(harness.run(full_sweep_every_hours=0))
    emulator.set_faults(FaultConfig())
    assert all(s.exit_code != 0 for s in summaries[3:]), summaries

    # The exceptions themselves, as a caller of the source sees them.
    for bad in (
        {"access_token": ACCESS_TOKEN + "\n" + PASSWORD},
        {**refresh(harness), "token_url": f"ftp://{CLIENT_SECRET}@example.com"},
    ):
        try:
            pipeline = dlt.pipeline(pipeline_name="raw", pipelines_dir=str(harness.pipelines_dir))
            pipeline.extract(
                pardot_source(
                    base_url=harness.base_url,
                    business_unit_id=emulator.config.business_unit_id,
                    credentials=cast(Any, bad),
                )
            )
        except Exception as error:  # any exception is searched
            errors.append(error)
    assert len(errors) == 2

    captured = capsys.readouterr()
    secrets = [*CONFIGURED, *issued_tokens(harness)]
    records = debug_logging.records
    assert any(r.levelno == logging.DEBUG for r in records), "debug logging was on"
    texts: dict[str, bytes | str] = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log text": debug_logging.text,
        "log records": "\n".join(
            f"{r.getMessage()} {r.args!r} {r.exc_text or ''} {r.__dict__!r}" for r in records
        ),
        "summaries": "\n".join(f"{s!r} {s.to_json()}" for s in summaries),
        "exceptions": "\n".join(exception_texts(e) for e in errors),
        **produced(harness, harness.pipelines_dir),
    }
    assert len(texts) > 10, "the pipelines folder and the warehouse were searched"
    assert_no_secret_in(texts, secrets)


def test_no_secret_in_a_debug_cli_run(harness: Harness) -> None:
    env = {
        "SOURCES__PARDOT__CREDENTIALS__ACCESS_TOKEN": None,
        "SOURCES__PARDOT__CREDENTIALS__CLIENT_ID": "emulator-client",
        "SOURCES__PARDOT__CREDENTIALS__CLIENT_SECRET": CLIENT_SECRET,
        "SOURCES__PARDOT__CREDENTIALS__REFRESH_TOKEN": REFRESH_TOKEN,
        "SOURCES__PARDOT__CREDENTIALS__TOKEN_URL": harness.base_url + "/services/oauth2/token",
    }
    # Every third request meets an expired token: refreshed mid-run, then replayed (with
    # 1, every request after the first would, the refreshed token's replay included).
    harness.emulator.set_faults(FaultConfig(token_expiry_after_requests=2))
    ok = pardot_sync(harness, "--log-level", "debug", **env)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "DEBUG" in ok.stderr
    failed = pardot_sync(
        harness,
        "--log-level",
        "debug",
        **{**env, "SOURCES__PARDOT__CREDENTIALS__CLIENT_SECRET": CLIENT_SECRET + "y"},
    )
    assert failed.returncode == 2, failed.stderr[-3000:]
    texts: dict[str, Any] = {
        "stdout": ok.stdout + failed.stdout,
        "stderr": ok.stderr + failed.stderr,
        **produced(harness, Path(os.environ["DLT_DATA_DIR"]) / "pipelines"),
    }
    assert any("duckdb" in where for where in texts), "the warehouse was searched"
    assert_no_secret_in(texts, [*CONFIGURED, *issued_tokens(harness)])
