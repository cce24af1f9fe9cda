"""Parse a Pardot response once, safely, and unwrap its ``<rsp stat=...>`` envelope.

Every answer but a plain page of query results, which the native reader (``native``)
reads, is parsed here, once, into a tree for the walk: the client hands the tree on,
because parsing is the cost floor of the connector. The parser is hardened (no entities,
no DTD, no network, no huge trees) and any document that carries a DOCTYPE is refused
before or after parsing, so a hostile or broken proxy can neither read files nor expand
entities.
lxml parser objects must not be shared between threads, so each thread gets its own.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Final

from lxml import etree

from sources.pardot.errors import (
    MalformedResponseError,
    PardotError,
    error_for_code,
    is_retried_unreadable,
    shorten,
)

_ERROR_CODE: Final = re.compile(
    rb"<err\s[^>]*code\s*=\s*[\"'](\d+)[\"']"  # XML
    rb"|\"err_code\"\s*:\s*\"?(\d+)"  # JSON
)
_ERROR_SCAN: Final = 2048
"""A 184 error body is tiny; scanning its head is enough and keeps big pages cheap."""
_DOCTYPE_MARKERS: Final = tuple(
    marker
    for text in ("<!DOCTYPE", "<!ENTITY")
    for marker in (text.encode(), text.encode("utf-16-le"), text.encode("utf-16-be"))
)
_HTML_START: Final = re.compile(rb"\s*(<\?xml[^>]*>\s*)?<(!doctype\s+html|html)", re.IGNORECASE)


class _ExternalReferenceRefusedError(Exception):
    """Raised by the resolver when libxml2 asks for any external DTD or entity."""


class _RefuseAll(etree.Resolver):
    def resolve(self, system_url: str, public_id: str, context: object = None) -> None:
        raise _ExternalReferenceRefusedError


_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            collect_ids=False,
        )
        parser.resolvers.add(_RefuseAll())
        _local.parser = parser
    return parser


def error_code_in(content: bytes) -> int | None:
    """Cheaply, the Pardot error code a body holds (XML or JSON), if it holds one.

    Args:
        content: the response body; only its head is scanned (an error body is tiny).
    """
    match = _ERROR_CODE.search(content[:_ERROR_SCAN])
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def looks_like_token_error(content: bytes) -> bool:
    """Tell cheaply whether a body is Pardot's error 184 (access token invalid or expired),
    in XML or in JSON."""
    return error_code_in(content) == 184


def _has_doctype(content: bytes) -> bool:
    # A DOCTYPE can only precede the root element, so scan the prolog, not the page.
    end = content.find(b"<rsp")
    prolog = content if end < 0 else content[:end]
    return any(marker in prolog for marker in _DOCTYPE_MARKERS)


def read_answer(
    content: bytes,
    *,
    operation: str,
    http_status: int,
    content_type: str | None = None,
    url: str = "",
) -> etree._Element:
    """The ``<rsp>`` root of Pardot's answer, whatever the HTTP status said.

    The body decides: a Pardot error in it, XML or JSON (some endpoints answer JSON
    although XML was asked for), is raised as the exception its code maps to; a JSON
    success is refused with a clear message, since the connector reads XML only.

    Raises:
        MalformedResponseError: the body is not a Pardot answer (see ``parse_document``),
            or it is a JSON success.
        PardotError: the class that ``error_for_code`` gives Pardot's error code.
    """
    if _looks_like_json(content, content_type):
        raise _json_answer(
            content,
            operation=operation,
            http_status=http_status,
            content_type=content_type,
            url=url,
        )
    return parse_document(
        content, operation=operation, http_status=http_status, content_type=content_type, url=url
    )


def _looks_like_json(content: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type.lower():
        return True
    return content.lstrip()[:1] in (b"{", b"[")


def _json_answer(
    content: bytes, *, operation: str, http_status: int, content_type: str | None, url: str
) -> PardotError:
    """The error a JSON answer stands for: Pardot's, by its code, exactly as in XML."""

    def malformed(reason: str, *, retriable: bool) -> MalformedResponseError:
        return MalformedResponseError(
            reason,
            operation=operation,
            http_status=http_status,
            content_type=content_type,
            retriable=retriable,
        )

    try:
        document = json.loads(content)
    except ValueError:  # the text is never quoted: it may hold anything
        return malformed(
            "not well-formed or truncated JSON", retriable=is_retried_unreadable(http_status)
        )
    attributes = document.get("@attributes") if isinstance(document, dict) else None
    stat = attributes.get("stat") if isinstance(attributes, dict) else None
    if stat == "ok":
        return malformed(
            "Pardot answered JSON although XML was asked for (format=xml); the connector "
            "reads XML only",
            retriable=False,
        )
    raw_code = attributes.get("err_code") if isinstance(attributes, dict) else None
    code = _json_code(raw_code)
    if stat != "fail" or code is None:
        return malformed("a JSON body that is not a Pardot answer", retriable=False)
    text = document.get("err")
    message = " ".join(str(part) for part in text) if isinstance(text, list) else str(text or "")
    return error_for_code(
        code,
        message.strip() or "(no message)",
        operation=operation,
        url=url,
        http_status=http_status,
    )


def _json_code(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


def parse_document(
    content: bytes,
    *,
    operation: str,
    http_status: int,
    content_type: str | None = None,
    url: str = "",
) -> etree._Element:
    """Parse a response body and return its ``<rsp>`` root if Pardot said ``stat="ok"``.

    Args:
        content: the raw response body.
        operation: the operation it answers, for messages.
        http_status: the HTTP status of the response.
        content_type: the Content-Type header, for messages.
        url: the request URL (redacted before it reaches any message).

    Returns:
        The ``<rsp>`` element.

    Raises:
        MalformedResponseError: empty, HTML, not well-formed or truncated, a DTD or
            entity declaration, wrong root, or a missing or unknown ``stat``.
        PardotError: the class that ``error_for_code`` gives the first ``<err>`` of a
            ``stat="fail"`` document.
    """
    retriable = is_retried_unreadable(http_status)

    def malformed(reason: str, *, can_retry: bool = retriable) -> MalformedResponseError:
        return MalformedResponseError(
            reason,
            operation=operation,
            http_status=http_status,
            content_type=content_type,
            retriable=can_retry,
        )

    if not content.strip():
        raise malformed("empty body")
    if (content_type and "html" in content_type.lower()) or _HTML_START.match(content):
        raise malformed("an HTML page instead of XML")
    if _has_doctype(content):
        raise malformed("refused a document with a DTD or entity declarations", can_retry=False)
    try:
        root = etree.fromstring(content, _parser())
    # `from None`: lxml's messages quote pieces of the document, which must not leak.
    except _ExternalReferenceRefusedError:
        raise malformed(
            "refused a reference to an external DTD or entity", can_retry=False
        ) from None
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise malformed(
            f"not well-formed or truncated XML at line {line}, column {column}"
        ) from None
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None or docinfo.system_url:
        raise malformed("refused a document with a DTD", can_retry=False)
    if root.tag != "rsp":
        raise malformed(
            f"root element is <{shorten(str(root.tag), 40)}>, not <rsp>", can_retry=False
        )
    stat = root.get("stat")
    if stat == "ok":
        return root
    if stat != "fail":
        raise malformed("the <rsp> element has no stat=ok|fail", can_retry=False)
    raise _classify_failure(root, operation=operation, http_status=http_status, url=url)


def _classify_failure(
    root: etree._Element, *, operation: str, http_status: int, url: str
) -> PardotError:
    err = root.find("err")
    raw_code = err.get("code") if err is not None else None
    if err is None or raw_code is None or not raw_code.strip().isdigit():
        return MalformedResponseError(
            'stat="fail" without an <err code>',
            operation=operation,
            http_status=http_status,
        )
    code = int(raw_code)
    message = "".join(str(text) for text in err.itertext()).strip() or "(no message)"
    param = err.get("param")
    if param:
        message = f"{message} (param: {shorten(param, 60)})"
    return error_for_code(code, message, operation=operation, url=url, http_status=http_status)
