"""Bad configuration fails before the first request, exits 2 and says what to fix.

Mostly in process through ``run_sync`` (fast); two cases through the real command line.
``test_process.py`` already covers business unit "abc" and no credentials via the CLI.
Also: plain http is refused off loopback, and TLS certificates are verified.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.runner import EXIT_CONFIG, RunSummary
from sources.pardot_emulator import EmulatorConfig, PardotEmulator
from sources.pardot_emulator.server import base_url, make_emulator_server

from .conftest import Harness, start_harness
from .test_process import pardot_sync

REFRESH = {"client_id": "emulator-client", "client_secret": "emulator-secret"}


@pytest.fixture
def harness(isolated_environment: Path) -> Iterator[Harness]:
    yield from start_harness(isolated_environment, EmulatorConfig(opportunities=20, seed=3))


BAD_SETTINGS: list[tuple[dict[str, Any], list[str]]] = [
    # (overrides, words the message must contain)
    ({"credentials": {}}, ["credentials", "access_token", "refresh_token"]),
    ({"credentials": {"client_id": "emulator-client", "client_secret": "s"}},
     ["credentials", "refresh_token"]),
    ({"credentials": {"access_token": "two words"}}, ["access_token", "spaces"]),
    ({"credentials": {**REFRESH, "refresh_token": "r\ttab"}}, ["refresh_token"]),
    ({"credentials": {**REFRESH, "refresh_token": "r", "token_url": "http://login.example.com/t"}},
     ["token_url", "https"]),
    ({"credentials": {**REFRESH, "refresh_token": "r", "token_url": "login.salesforce.com"}},
     ["token_url"]),
    ({"business_unit_id": ""}, ["business_unit_id"]),
    ({"business_unit_id": "0Uv00000000001AAA"}, ["business_unit_id", "18"]),
    ({"business_unit_id": "1Uv000000000001AAA"}, ["business_unit_id", "0Uv"]),
    ({"business_unit_id": "0Uv00000000000/AAA"}, ["business_unit_id"]),
    ({"timezone": "Mars/Olympus_Mons"}, ["timezone", "IANA"]),
    ({"timezone": "../../etc/passwd"}, ["timezone"]),
    ({"timezone": ""}, ["timezone"]),
    ({"base_url": "http://pi.pardot.com"}, ["base_url", "https"]),
    ({"base_url": "ftp://pi.pardot.com"}, ["base_url", "https"]),
    ({"base_url": "pi.pardot.com"}, ["base_url"]),
    ({"base_url": "https://"}, ["base_url"]),
    ({"page_size": 0}, ["page_size", "1", "200"]),
    ({"page_size": 201}, ["page_size", "200"]),
    ({"page_size": "many"}, ["page_size", "integer"]),
    ({"max_concurrency": 0}, ["max_concurrency", "5"]),
    ({"max_concurrency": 6}, ["max_concurrency", "5"]),
    ({"api_version": 5}, ["api_version", "3", "4"]),
    ({"start_date": "yesterday"}, ["start_date", "2024-01-31"]),
    ({"start_date": "2024-13-01"}, ["start_date"]),
    ({"daily_request_budget": -3}, ["daily_request_budget"]),
    ({"recent_sweep_days": "a month"}, ["recent_sweep_days"]),
]  # fmt: skip


def case_id(overrides: dict[str, Any]) -> str:
    (key, value), *_ = overrides.items()
    return f"{key}={value!r}"[:60]


def assert_config_error(summary: RunSummary, harness: Harness, words: list[str]) -> None:
    assert summary.exit_code == EXIT_CONFIG, summary
    assert summary.outcome == "config_error"
    message = summary.message or ""
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Traceback" not in message and "\n" not in message.strip()
    assert summary.requests == 0
    assert harness.emulator.request_count() == 0, "nothing reached Pardot, not even a token"
    assert not harness.database.exists(), "no warehouse was created"


@pytest.mark.parametrize(
    ("overrides", "words"), [pytest.param(o, w, id=case_id(o)) for o, w in BAD_SETTINGS]
)
def test_bad_setting_fails_before_any_request_with_exit_2(
    harness: Harness, overrides: dict[str, Any], words: list[str]
) -> None:
    assert_config_error(harness.run(**overrides), harness, words)


def test_wrong_secret_is_a_credential_error_with_exit_2(harness: Harness) -> None:
    """Well-formed but wrong: one token request, refused, exit 2, no data request."""
    summary = harness.run(
        credentials={
            **REFRESH,
            "client_secret": "wrong-secret",
            "refresh_token": "emulator-refresh-token",
            "token_url": harness.base_url + "/services/oauth2/token",
        }
    )
    assert summary.exit_code == EXIT_CONFIG, summary
    assert "token endpoint rejected" in (summary.message or "")
    assert "client_secret" in (summary.message or "")
    assert harness.emulator.request_count("token") == 1
    assert harness.emulator.request_count("query") == 0


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        pytest.param({"SOURCES__PARDOT__PAGE_SIZE": "0"}, "page_size", id="page-size-0"),
        pytest.param(
            {"SOURCES__PARDOT__BASE_URL": "http://pi.pardot.com"}, "https", id="plain-http"
        ),
    ],
)
def test_bad_setting_through_the_command_line(
    harness: Harness, env: dict[str, str], mentions: str
) -> None:
    finished = pardot_sync(harness, **env)
    assert finished.returncode == EXIT_CONFIG, finished.stderr[-3000:]
    assert finished.summary["exit_code"] == EXIT_CONFIG
    assert finished.summary["requests"] == 0
    lines = [line for line in finished.stderr.splitlines() if line.startswith("pardot-sync: ")]
    assert lines and mentions in lines[-1], finished.stderr[-3000:]
    assert "Traceback" not in finished.stderr
    assert harness.emulator.request_count() == 0


@pytest.fixture
def tls_harness(isolated_environment: Path) -> Iterator[Harness]:
    """The emulator behind TLS with a self-signed certificate nobody trusts."""
    key, cert = isolated_environment / "key.pem", isolated_environment / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    emulator = PardotEmulator(EmulatorConfig(opportunities=20, seed=3))
    server = make_emulator_server(emulator)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = base_url(server).replace("http://", "https://")
        yield Harness(emulator, url, isolated_environment)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_tls_certificates_are_verified(tls_harness: Harness, quick_backoff: list[float]) -> None:
    summary = tls_harness.run()
    assert quick_backoff == [], "a certificate failure is not retried"
    assert summary.exit_code == EXIT_CONFIG, summary
    assert tls_harness.emulator.request_count() == 0
    message = summary.message or ""
    assert "query" in message and "CERTIFICATE_VERIFY_FAILED" in message, message
    assert tls_harness.emulator.request_count() == 0, "no request got through the handshake"
