"""The hardened parse and the ``<rsp>`` envelope: ok, fail, and every kind of garbage."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from sources.pardot.envelope import looks_like_token_error, parse_document
from sources.pardot.errors import (
    AuthenticationError,
    ConcurrencyLimitError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
)

OK = b'<?xml version="1.0" encoding="UTF-8"?>\n<rsp stat="ok" version="1.0"><result>'
OK += b"<total_results>1</total_results><opportunity><id>7</id></opportunity></result></rsp>"


def parse(
    content: bytes, status: int = 200, content_type: str | None = "text/xml"
) -> etree._Element:
    return parse_document(content, operation="query", http_status=status, content_type=content_type)


def malformed(
    content: bytes, status: int = 200, content_type: str | None = None
) -> MalformedResponseError:
    with pytest.raises(MalformedResponseError) as info:
        parse(content, status, content_type)
    return info.value


def test_ok_returns_the_rsp_root() -> None:
    root = parse(OK)
    assert root.tag == "rsp"
    assert root.findtext("result/opportunity/id") == "7"


def test_fail_with_http_200_is_classified() -> None:
    body = b'<rsp stat="fail" version="1.0"><err code="35">Invalid opportunity ID</err></rsp>'
    with pytest.raises(NotFoundError) as info:
        parse_document(
            body, operation="read", http_status=200, url="/api/opportunity/version/3/do/read/id/9"
        )
    assert info.value.code == 35
    assert info.value.http_status == 200
    assert info.value.message == "Invalid opportunity ID"
    assert info.value.url == "/api/opportunity/version/3/do/read/id/9"


def test_first_err_wins_and_10000_names_its_param() -> None:
    body = (
        b'<rsp stat="fail" version="1.0"><err code="10000" param="limit">Invalid value</err>'
        b'<err code="10000" param="offset">Invalid value</err></rsp>'
    )
    with pytest.raises(InvalidRequestError) as info:
        parse(body)
    assert info.value.code == 10000
    assert "param: limit" in info.value.message
    assert "offset" not in info.value.message


def test_66_is_concurrency_and_184_is_authentication() -> None:
    with pytest.raises(ConcurrencyLimitError):
        parse(b'<rsp stat="fail"><err code="66">You have exceeded</err></rsp>')
    with pytest.raises(AuthenticationError):
        parse(b'<rsp stat="fail"><err code="184">access_token is invalid</err></rsp>', 401)


@pytest.mark.parametrize(
    ("content", "content_type", "retriable"),
    [
        pytest.param(b"", None, True, id="empty"),
        pytest.param(b"  \n ", "text/xml", True, id="whitespace"),
        pytest.param(
            b"<!DOCTYPE html><html><body>502 Bad Gateway<br></body></html>",
            "text/html",
            True,
            id="html-page",
        ),
        pytest.param(b"<html><body><p>maintenance</p></body></html>", None, True, id="html-no-ct"),
        pytest.param(OK[: len(OK) // 2], "text/xml", True, id="truncated"),
        pytest.param(b"not xml at all", "text/plain", True, id="text"),
        pytest.param(b'<response stat="ok"/>', "text/xml", False, id="wrong-root"),
        pytest.param(b'<rsp version="1.0"/>', "text/xml", False, id="no-stat"),
        pytest.param(b'<rsp stat="maybe"/>', "text/xml", False, id="odd-stat"),
        pytest.param(b'<rsp stat="fail"><err>no code</err></rsp>', "text/xml", False, id="no-code"),
    ],
)
def test_malformed_bodies(content: bytes, content_type: str | None, retriable: bool) -> None:
    error = malformed(content, 200, content_type)
    assert error.retriable is retriable
    assert error.operation == "query"
    assert error.http_status == 200


def test_malformed_message_never_echoes_the_body() -> None:
    body = b"<rsp stat='ok'><secret>SUPERSECRETVALUE</secret"
    error = malformed(body)
    assert "SUPERSECRETVALUE" not in str(error)
    assert error.__cause__ is None


def test_4xx_garbage_is_not_retriable() -> None:
    assert malformed(b"Not Found", 404, "text/plain").retriable is False


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE rsp [<!ENTITY xxe SYSTEM "file:///{path}">]>'
            b'<rsp stat="ok"><result>&xxe;</result></rsp>',
            id="external-entity",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE rsp SYSTEM "file:///{path}"><rsp stat="ok"/>',
            id="external-dtd",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
            b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
            b'<rsp stat="ok"><result>&lol4;</result></rsp>',
            id="billion-laughs",
        ),
        pytest.param(
            b'<!-- padding --><!DOCTYPE rsp [<!ENTITY a "b">]><rsp stat="ok">&a;</rsp>',
            id="internal-subset-after-comment",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE rsp [<!ENTITY a "b">]>'
            '<rsp stat="ok">&a;</rsp>'.encode("utf-16"),
            id="utf16-internal-subset",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="UTF-32"?><!DOCTYPE rsp [<!ENTITY a "b">]>'
            '<rsp stat="ok">&a;</rsp>'.encode("utf-32"),
            id="utf32-internal-subset",
        ),
    ],
)
def test_documents_with_a_dtd_are_refused_unresolved(content: bytes, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("FILE-CONTENT-MUST-NOT-LEAK")
    content = content.replace(b"{path}", str(secret).lstrip("/").encode())
    error = malformed(content)
    assert error.retriable is False
    assert "DTD" in str(error)
    assert "FILE-CONTENT" not in str(error)


def test_external_dtd_is_not_even_opened(tmp_path: Path) -> None:
    # A FIFO would block any reader forever: refusing must not touch it.
    fifo = tmp_path / "fifo.dtd"
    os.mkfifo(fifo)
    body = f'<!-- x --><!-- {"y" * 10} --><!DOCTYPE rsp SYSTEM "file://{fifo}"><rsp stat="ok"/>'
    error = malformed(body.encode())
    assert error.retriable is False


def test_looks_like_token_error() -> None:
    assert looks_like_token_error(
        b'<?xml version="1.0"?>\n<rsp stat="fail" version="1.0">\n'
        b'    <err code="184">access_token is invalid, unknown, or malformed</err>\n</rsp>'
    )
    assert looks_like_token_error(b"<rsp stat='fail'><err code='184'>x</err></rsp>")
    assert not looks_like_token_error(b'<rsp stat="fail"><err code="1840">x</err></rsp>')
    assert not looks_like_token_error(b'<rsp stat="fail"><err code="35">x</err></rsp>')
    assert not looks_like_token_error(OK)
    assert not looks_like_token_error(b"")


def test_parsing_from_many_threads() -> None:
    barrier = threading.Barrier(8)

    def work(index: int) -> str | None:
        barrier.wait()
        body = OK.replace(b"<id>7</id>", f"<id>{index}</id>".encode())
        results = {parse(body).findtext("result/opportunity/id") for _ in range(200)}
        return results.pop() if len(results) == 1 else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(work, range(8))) == [str(i) for i in range(8)]
