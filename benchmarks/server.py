"""The emulator in its own process: start it, warm its render cache, read its log, stop it.

The emulator is started as ``python -m sources.pardot_emulator serve --render-cache`` so
that rendering pages costs our process nothing, and warmed with one full keyset pass of
raw HTTP requests before anything is timed, so every timed request is served from the
cache of rendered opportunities.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from lxml import etree

ROOT: Final = Path(__file__).resolve().parents[1]
QUERY_PATH: Final = "/api/opportunity/version/3/do/query"
PAGE_SIZE: Final = 200
START_TIMEOUT: Final = 600.0
"""Generating a million opportunities takes about a minute; allow far more."""


@dataclass(frozen=True)
class Endpoint:
    """Where the emulator listens and how to authenticate to it."""

    base_url: str
    business_unit_id: str
    token: str

    def headers(self) -> dict[str, str]:
        """Pardot's two headers."""
        return {
            "Authorization": f"Bearer {self.token}",
            "Pardot-Business-Unit-Id": self.business_unit_id,
        }


def iter_pages(
    endpoint: Endpoint, *, limit: int | None = None
) -> Iterator[tuple[bytes, etree._Element]]:
    """One sequential keyset scan (``id_greater_than``, 200 a page): raw body, parsed root.

    Args:
        endpoint: the emulator.
        limit: stop after the page that reaches this many opportunities (None: all).
    """
    after = 0
    seen = 0
    with httpx.Client(base_url=endpoint.base_url, headers=endpoint.headers(), timeout=60) as c:
        while True:
            params: dict[str, str | int] = {
                "sort_by": "id",
                "sort_order": "ascending",
                "limit": PAGE_SIZE,
                "output": "full",
                "id_greater_than": after,
            }
            response = c.get(QUERY_PATH, params=params)
            response.raise_for_status()
            body = response.content
            root = etree.fromstring(body)
            yield body, root
            page = root.findall("result/opportunity")
            seen += len(page)
            if len(page) < PAGE_SIZE or (limit is not None and seen >= limit):
                return
            after = int(page[-1].findtext("id") or 0)


@dataclass
class Emulator:
    """One emulator process."""

    opportunities: int
    seed: int = 7
    process: subprocess.Popen[str] | None = None
    endpoint: Endpoint | None = None
    served: int = 0
    """Live opportunities the warm pass read (deleted ones are not served)."""
    warm_requests: int = 0
    extra_args: list[str] = field(default_factory=list)

    def start(self) -> Endpoint:
        """Start the process and read its one line: base URL, business unit, token."""
        command = [
            sys.executable, "-m", "sources.pardot_emulator", "serve", "--port", "0",
            "--opportunities", str(self.opportunities), "--seed", str(self.seed),
            # pages as full as they can be: each opportunity's activities nested in it
            "--render-cache", "--query-activities", *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if len(line) != 3:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        base, unit, token = line
        self.endpoint = Endpoint(
            base, unit.removeprefix("business_unit_id="), token.removeprefix("token=")
        )
        return self.endpoint

    def warm(self) -> int:
        """One full pass of raw requests, so every later page comes from the render cache."""
        assert self.endpoint is not None
        served = requests = 0
        for _, root in iter_pages(self.endpoint):
            requests += 1
            served += len(root.findall("result/opportunity"))
        self.served, self.warm_requests = served, requests
        self.reset_requests()
        return served

    def _control(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        assert self.endpoint is not None
        url = f"{self.endpoint.base_url}/_emulator/{name}"
        response = httpx.request(method, url, json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def set_latency(self, seconds: float) -> None:
        """Add this delay to every API request from now on (the ``--latency`` fault)."""
        self._control("POST", "faults", {"latency_seconds": seconds})

    def reset_requests(self) -> None:
        """Empty the request log."""
        self._control("POST", "reset_requests", {})

    def requests(self) -> list[dict[str, Any]]:
        """The API requests logged since the last reset (token requests left out)."""
        log: list[dict[str, Any]] = self._control("GET", "requests")
        return [r for r in log if "/do/" in str(r.get("path", ""))]

    def stop(self) -> None:
        """SIGTERM, then wait (kill after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
