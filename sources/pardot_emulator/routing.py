"""Reading a WSGI request: the key/value path grammar and the merged parameters.

After ``/api/opportunity`` (or ``/api/visitorActivity``) the path is read as
``key/value`` pairs in any order (``/version/3/do/query`` and CRIM's
``/do/query/version/3`` alike), then merged with the query string and the form body; the
path wins over the body, the body over the query.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

API_PREFIX = "/api/opportunity"
ACTIVITY_PREFIX = "/api/visitorActivity"
RESOURCES = {API_PREFIX: "opportunity", ACTIVITY_PREFIX: "visitor_activity"}
"""Path prefix of each API resource -> its name (the request log prefixes it to the
operation for every resource but the opportunity: ``visitor_activity_query``)."""
CONTROL_PREFIX = "/_emulator/"
"""The control interface's paths (ground truth, request log, faults, actions)."""
MAX_BODY = 10 * 1024 * 1024


@dataclass(frozen=True)
class ParsedRequest:
    """Method, path and merged parameters of one request."""

    method: str
    path: str
    params: dict[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def operation(self) -> str | None:
        """The ``do`` value, lower-cased."""
        op = self.params.get("do")
        return op.strip().lower() if op else None

    @property
    def resource(self) -> str | None:
        """``opportunity`` or ``visitor_activity`` for an API path, else None."""
        prefix = api_prefix(self.path)
        return RESOURCES[prefix] if prefix else None


def api_prefix(path: str) -> str | None:
    """The API prefix ``path`` is under, or None."""
    for prefix in RESOURCES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return None


def request_path(environ: Mapping[str, Any]) -> str:
    """``PATH_INFO`` as the Unicode text the client sent (WSGI gives latin-1 bytes)."""
    raw = str(environ.get("PATH_INFO", "") or "/")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def read_body(environ: Mapping[str, Any]) -> bytes:
    """The request body, bounded by ``CONTENT_LENGTH``."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    stream = environ["wsgi.input"]
    return bytes(stream.read(min(length, MAX_BODY)))


def _pairs(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


def path_params(path: str) -> dict[str, str]:
    """Key/value pairs of the path after the API prefix; a dangling key is ignored."""
    prefix = api_prefix(path)
    rest = path[len(prefix) :] if prefix else path
    segments = [unquote(s) for s in rest.split("/") if s]
    return {segments[i].lower(): segments[i + 1] for i in range(0, len(segments) - 1, 2)}


def headers_of(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers, lower-case names with dashes."""
    out = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = str(environ["CONTENT_TYPE"])
    return out


def parse_request(environ: Mapping[str, Any], *, api: bool, form: bool = True) -> ParsedRequest:
    """Method, path, headers and merged params (path pairs only for API paths)."""
    path = request_path(environ)
    headers = headers_of(environ)
    params = _pairs(str(environ.get("QUERY_STRING", "")))
    body = read_body(environ)
    content_type = headers.get("content-type", "").lower()
    if form and body and ("form-urlencoded" in content_type or not content_type):
        params.update(_pairs(body.decode("utf-8", errors="replace")))
    if api:
        params.update(path_params(path))
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    return ParsedRequest(method, path, params, headers, body)


def instance_url(environ: Mapping[str, Any]) -> str:
    """Scheme and host the client used, for the token response."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"{scheme}://{host}"
