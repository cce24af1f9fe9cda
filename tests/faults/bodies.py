"""Hostile and broken response bodies, shared by the unit and end-to-end tests."""

from __future__ import annotations

from typing import NamedTuple

from sources.pardot_emulator.faults import html_page

_PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rsp stat="ok" version="1.0">\n<result>'
    b"<total_results>1</total_results><opportunity><id>1</id><name>Deal</name>"
    b"<value>10.00</value><probability>50</probability></opportunity></result>\n</rsp>\n"
)
_LOL = b"".join(
    b'<!ENTITY lol%d "%s">' % (n, b"".join(b"&lol%d;" % (n - 1) for _ in range(10)))
    for n in range(1, 10)
)


class BadBody(NamedTuple):
    status: int
    content_type: str
    body: bytes
    retriable: bool
    says: str
    """A word the error message must contain (what was wrong)."""


BAD_BODIES: dict[str, BadBody] = {
    "proxy-html-page-200": BadBody(200, "text/html", html_page(200, "Bad Gateway"), True, "HTML"),
    "proxy-html-page-as-xml": BadBody(
        200, "text/xml", html_page(502, "Bad Gateway"), True, "HTML"
    ),
    "empty-body": BadBody(200, "text/xml", b"", True, "empty"),
    "cut-mid-element": BadBody(200, "text/xml", _PAGE[: _PAGE.index(b"<value>") + 4], True,
                               "truncated"),
    "dtd": BadBody(200, "text/xml", b'<?xml version="1.0"?><!DOCTYPE rsp [<!ELEMENT rsp ANY>]>'
                   b'<rsp stat="ok"><result/></rsp>', False, "DTD"),
    "external-entity": BadBody(
        200, "text/xml",
        b'<?xml version="1.0"?><!DOCTYPE rsp [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<rsp stat="ok"><result><total_results>&xxe;</total_results></result></rsp>',
        False, "DTD",
    ),
    "billion-laughs": BadBody(
        200, "text/xml",
        b'<?xml version="1.0"?><!DOCTYPE rsp [<!ENTITY lol0 "lol">' + _LOL + b"]>"
        b'<rsp stat="ok"><result><total_results>&lol9;</total_results></result></rsp>',
        False, "DTD",
    ),
    "entity-without-dtd": BadBody(
        200, "text/xml", b'<rsp stat="ok"><result><total_results>&lol9;</total_results>'
        b"</result></rsp>", True, "XML",
    ),
}  # fmt: skip
