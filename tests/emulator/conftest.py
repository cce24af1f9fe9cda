"""Fixtures for the emulator's own tests: a small frozen-clock account and a client."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lxml import etree

from sources.pardot_emulator import EmulatorConfig, PardotEmulator

BU = "0Uv000000000001AAA"
TOKEN = "emulator-access-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Pardot-Business-Unit-Id": BU}


def make(**overrides: Any) -> PardotEmulator:
    """A small deterministic emulator (virtual clock frozen unless advanced)."""
    settings: dict[str, Any] = {"opportunities": 300, "seed": 7, "realtime_clock": False}
    settings.update(overrides)
    return PardotEmulator(EmulatorConfig(**settings))


def client_for(emu: PardotEmulator, headers: dict[str, str] | None = None) -> httpx.Client:
    """An httpx client mounted on the emulator in-process."""
    return httpx.Client(
        transport=httpx.WSGITransport(app=emu.app),
        base_url="https://pi.pardot.test",
        headers=HEADERS if headers is None else headers,
    )


@pytest.fixture(scope="module")
def emu() -> PardotEmulator:
    """A shared read-only account (tests that write make their own)."""
    return make()


@pytest.fixture(scope="module")
def client(emu: PardotEmulator) -> Iterator[httpx.Client]:
    with client_for(emu) as c:
        yield c


def xml(response: httpx.Response) -> etree._Element:
    """The parsed XML body."""
    return etree.fromstring(response.content)


def call(client: httpx.Client, op: str, version: int = 3, **params: Any) -> etree._Element:
    """GET an operation and parse its XML."""
    response = client.get(f"/api/opportunity/version/{version}/do/{op}", params=params)
    return xml(response)


def err_code(root: etree._Element) -> int | None:
    """The error code of a fail envelope, None for ok."""
    if root.get("stat") == "ok":
        return None
    return int(root.find("err").get("code"))


def ids(root: etree._Element) -> list[int]:
    """Opportunity ids of a query response, in order."""
    return [int(x) for x in root.xpath("/rsp/result/opportunity/id/text()")]


def live(emu: PardotEmulator) -> list[dict[str, Any]]:
    """The ground truth's non-deleted opportunities."""
    return [o for o in emu.ground_truth()["opportunities"] if not o["is_deleted"]]
