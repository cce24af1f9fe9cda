"""The WSGI request path: routing, faults, limits, auth, version checks, rendering, log.

One function per route family. API requests pass, in order: fault decision, concurrency
gate (66), latency, method (60), headers (181), business unit (201), token (184), version
(88/89), daily limit (122), then the operation itself. v5 requests share the faults, the
gate and the log here; their own checks and JSON errors are in :mod:`.v5api`.
"""

import json
import socket
import struct
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .auth import token_response
from .control import handle_control
from .errors import ApiError
from .faults import FaultDecision
from .render import json_error, xml_error
from .requestlog import RequestRecord, redact
from .responses import HTML_TYPE, JSON_TYPE, XML_TYPE, Response
from .routing import CONTROL_PREFIX, ParsedRequest, api_prefix, instance_url, parse_request
from .v5api import V5_OPERATION, V5_PATH, handle_v5, v5_error

if TYPE_CHECKING:
    from .emulator import PardotEmulator

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 (a path)
SOCKET_KEY = "pardot_emulator.socket"
StartResponse = Callable[..., Any]


class ConnectionDropped(ConnectionResetError):
    """Raised by the app to drop the connection without answering."""


def send(response: Response, start_response: StartResponse) -> Iterable[bytes]:
    """Hand ``response`` to the WSGI server."""
    status = f"{response.status} {HTTPStatus(response.status).phrase}"
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(len(response.body))),
        *response.headers,
    ]
    start_response(status, headers)
    return [response.body]


def dispatch(emu: "PardotEmulator", environ: dict[str, Any], sr: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point: route by path."""
    path = str(environ.get("PATH_INFO", ""))
    if path.startswith(CONTROL_PREFIX):
        return send(handle_control(emu, parse_request(environ, api=False, form=False)), sr)
    if path.rstrip("/") == TOKEN_PATH:
        return send(_logged(emu, environ, token=True), sr)
    if api_prefix(path) is not None:
        return send(_logged(emu, environ, token=False), sr)
    if path.rstrip("/") == V5_PATH:
        return send(_logged(emu, environ, token=False, v5=True), sr)
    return send(Response(404, b"Not Found", "text/plain"), sr)


def _error(
    code: int, message: str | None, as_json: bool, status: int = 200, param: str | None = None
) -> Response:
    err = ApiError(code, message, param=param)
    body = json_error(code, err.message) if as_json else xml_error(code, err.message, err.param)
    return Response(status, body, JSON_TYPE if as_json else XML_TYPE, error_code=code)


def _logged(
    emu: "PardotEmulator", environ: dict[str, Any], *, token: bool, v5: bool = False
) -> Response:
    started, t0 = time.time(), time.perf_counter()
    version: int | None = None
    if v5:  # the query string only: no path pairs, no form body
        request = parse_request(environ, api=False, form=False)
        operation, version = V5_OPERATION, 5
    else:
        request = parse_request(environ, api=not token)
        operation = "token" if token else (request.operation or "unknown")
        if not token and request.resource not in (None, "opportunity"):
            operation = f"{request.resource}_{operation}"
        raw_version = request.params.get("version", "")
        if raw_version.strip().isdigit():
            version = int(raw_version)
    apply_faults = not token or emu.config.faults_on_token_endpoint
    decision = emu.faults.decide() if apply_faults else FaultDecision()
    response = Response(0, b"")
    try:
        response = _faulted(emu, environ, request, decision, token, version, v5)
        return response
    finally:
        emu.log.append(
            RequestRecord(
                method=request.method,
                path=request.path,
                operation=operation,
                version=version,
                params=redact(request.params),
                status=response.status,
                error_code=response.error_code,
                fault=decision.kind,
                started_at=started,
                duration_seconds=time.perf_counter() - t0,
            )
        )


def _faulted(
    emu: "PardotEmulator",
    environ: dict[str, Any],
    request: ParsedRequest,
    decision: FaultDecision,
    token: bool,
    version: int | None,
    v5: bool = False,
) -> Response:
    if decision.expire_tokens:
        emu.tokens.expire_all()
    if decision.kind in ("drop", "5xx", "html"):
        time.sleep(decision.latency)
        if decision.kind == "drop":
            sock = environ.get(SOCKET_KEY)
            if isinstance(sock, socket.socket):
                # Linger 0: closing sends a TCP reset instead of a clean FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raise ConnectionDropped("connection dropped by fault injection")
        headers = [("Retry-After", "1")] if decision.retry_after else []
        return Response(decision.status, decision.body, HTML_TYPE, headers)
    as_json = v5 or request.params.get("format", "").strip().lower() == "json"
    errors_json = as_json or emu.config.json_errors
    if token:
        time.sleep(decision.latency)
        response = _token(emu, environ, request)
    elif not emu.gate.enter():
        return v5_error(429, 66) if v5 else _error(66, None, errors_json)
    else:
        try:
            time.sleep(decision.latency)
            if decision.kind == "burst_66":
                return v5_error(429, 66) if v5 else _error(66, None, errors_json)
            response = handle_v5(emu, request) if v5 else _api(emu, request, version, as_json)
        finally:
            emu.gate.leave()
    if decision.kind == "truncate" and len(response.body) > 1:
        cut = min(
            len(response.body) - 1,
            max(1, int(len(response.body) * (decision.truncate_fraction or 0))),
        )
        response.body = response.body[:cut]
    return response


def _token(emu: "PardotEmulator", environ: dict[str, Any], request: ParsedRequest) -> Response:
    if request.method != "POST":
        body = {"error": "invalid_request", "error_description": "must use HTTP POST"}
        return Response(405, json.dumps(body).encode(), JSON_TYPE)
    status, body = token_response(
        emu.config,
        emu.tokens,
        request.params,
        request.headers.get("authorization", ""),
        instance_url(environ),
    )
    return Response(status, json.dumps(body).encode(), JSON_TYPE)


def _api(
    emu: "PardotEmulator", request: ParsedRequest, version: int | None, as_json: bool
) -> Response:
    config = emu.config
    operation = request.operation or ""
    errors_json = as_json or config.json_errors
    opportunity = request.resource == "opportunity"
    if request.method not in ("GET", "POST") and not (
        request.method == "DELETE" and operation == "delete" and opportunity
    ):
        return _error(60, None, errors_json)
    authorization = request.headers.get("authorization", "")
    business_unit = request.headers.get("pardot-business-unit-id", "")
    if not authorization.strip() or not business_unit.strip():
        return _error(181, None, errors_json, status=400)
    if business_unit.strip() != config.business_unit_id:
        return _error(
            201, f"Business Unit {business_unit.strip()} not found or inactive", errors_json, 400
        )
    scheme, _, bearer = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not emu.tokens.valid(bearer.strip()):
        return _error(184, None, errors_json, status=config.token_error_status)
    if version is None and request.params.get("version", "").strip():
        return _error(22, None, errors_json)
    effective = version or config.api_version
    if effective not in (3, 4):
        return _error(22, None, errors_json)
    if effective == 3 and config.api_version == 4:
        return _error(88, None, errors_json)
    if effective == 4 and config.api_version == 3:
        return _error(89, None, errors_json)
    if not config.ip_allowlisted:
        return _error(53, None, errors_json)
    if not emu.daily.take(emu.time.local_date(emu.clock.now())):
        return _error(122, None, errors_json, status=config.daily_limit_status)
    try:
        if opportunity:
            body = emu.api.handle(operation, request.params, effective, as_json)
        else:
            body = emu.activity_api.handle(operation, request.params, effective, as_json)
    except ApiError as err:
        return _error(err.code, err.message, errors_json, param=err.param)
    if body is None:
        return Response(200, b"")
    return Response(200, body, JSON_TYPE if as_json else XML_TYPE)
