"""Bad responses through the client: refused safely, with a clear error, bounded cost.

``tests/unit/test_envelope.py`` checks ``parse_document`` on such bodies; here they come
through ``PardotClient`` as real HTTP answers: the error is a ``MalformedResponseError``
naming the operation, whatever can change on a retry is retried (and only that), the
body is never echoed, nothing outside the document is read, and an entity bomb costs
neither time nor memory.
"""

from __future__ import annotations

import time

import pytest

from sources.pardot.errors import MalformedResponseError
from tests.faults.bodies import BAD_BODIES, BadBody

from .conftest import ClientFactory, FakePardot, Reply


@pytest.mark.parametrize("name", list(BAD_BODIES))
@pytest.mark.parametrize("call", ["query", "query_page", "read"])
def test_bad_body_is_refused_with_a_clear_error(
    make_client: ClientFactory,
    pardot_api: FakePardot,
    sleeps: list[float],
    name: str,
    call: str,
) -> None:
    """``query_page`` is how a sync reads pages: the native reader first, which must
    refuse what the hardened parser refuses."""
    operation = "read" if call == "read" else "query"
    bad: BadBody = BAD_BODIES[name]
    pardot_api.default = Reply(bad.status, bad.body, {"content-type": bad.content_type})
    client = make_client()
    started = time.monotonic()
    with pytest.raises(MalformedResponseError) as caught:
        if call == "query":
            client.query(limit=10)
        elif call == "query_page":
            client.query_page(limit=10)
        else:
            client.read(7)
    error = caught.value
    assert time.monotonic() - started < 2.0, "no entity expansion, no long parse"
    assert error.operation == operation
    text = str(error)
    assert text.startswith(f"{operation}: malformed response"), text
    assert bad.says.lower() in text.lower(), text
    assert error.__cause__ is None or not isinstance(error.__cause__, MalformedResponseError)
    for fragment in (b"lol", b"passwd", b"nginx", b"Deal"):
        if fragment in bad.body:
            assert fragment.decode() not in text, "the body is never echoed"
    attempts = len(pardot_api.api_requests)
    if bad.retriable:
        assert attempts == 7 and len(sleeps) == 6, "retried: a proxy may answer better"
    else:
        assert attempts == 1 and sleeps == [], "a DTD will not go away on a retry"


def test_a_bad_body_then_a_good_one_is_a_success(
    make_client: ClientFactory, pardot_api: FakePardot
) -> None:
    cut = BAD_BODIES["cut-mid-element"]
    html = BAD_BODIES["proxy-html-page-as-xml"]
    pardot_api.script = [
        Reply(200, cut.body, {"content-type": "text/xml"}),
        Reply(200, html.body, {"content-type": "text/xml"}),
        Reply(200, b"", {"content-type": "text/xml"}),
    ]
    result = make_client().query(limit=10)
    assert result.tag == "result"
    assert len(pardot_api.api_requests) == 4
