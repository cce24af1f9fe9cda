"""The HTTP control interface under ``/_emulator/`` for an emulator in another process.

JSON in, JSON out, no auth, no faults, not counted in the request log:
``GET ground_truth|requests|info``, ``POST reset_requests|faults|switches|<control action>``.
"""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import FaultConfig
from .errors import ApiError
from .responses import JSON_TYPE, Response
from .routing import CONTROL_PREFIX, ParsedRequest

if TYPE_CHECKING:
    from .emulator import PardotEmulator

ACTIONS = (
    "add_opportunities",
    "create_opportunity",
    "update_opportunity",
    "delete_opportunity",
    "undelete_opportunity",
    "link_prospect",
    "unlink_prospect",
    "add_activity",
    "advance_clock",
    "override_field",
    "clear_field_overrides",
)


def _json(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode(), JSON_TYPE)


def _info(emu: "PardotEmulator") -> dict[str, Any]:
    c = emu.config
    return {
        "business_unit_id": c.business_unit_id,
        "default_token": c.default_token,
        "api_version": c.api_version,
        "timezone": c.timezone,
        "now": emu.now().isoformat(),
        "daily_requests": emu.daily.used(emu.time.local_date(emu.now())),
        "switches": emu.switches(),
    }


def _call(emu: "PardotEmulator", action: str, body: dict[str, Any]) -> Any:
    method: Callable[..., Any] = getattr(emu, action)
    if action in ("add_opportunities",):
        return {"ids": method(body.pop("n"), **body)}
    if action in ("update_opportunity", "delete_opportunity", "undelete_opportunity"):
        result = method(body.pop("id"), **body)
        return {"ok": True} if result is None else result
    if action == "add_activity":
        return {"id": method(body.pop("opportunity_id"), **body)}
    if action == "create_opportunity":
        return {"id": method(**body)}
    method(**body)
    return {"ok": True}


def handle_control(emu: "PardotEmulator", request: ParsedRequest) -> Response:
    """Answer one control request."""
    name = request.path[len(CONTROL_PREFIX) :].strip("/")
    if request.method == "GET":
        if name == "ground_truth":
            return _json(200, emu.ground_truth())
        if name == "requests":
            return _json(200, [r.to_dict() for r in emu.request_log])
        if name == "info":
            return _json(200, _info(emu))
        return _json(404, {"error": f"unknown control resource {name!r}"})
    if request.method != "POST":
        return _json(405, {"error": "use GET or POST"})
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        if name == "reset_requests":
            emu.reset_request_log()
            return _json(200, {"ok": True})
        if name == "faults":
            emu.set_faults(FaultConfig.from_dict(body))
            return _json(200, {"ok": True})
        if name == "switches":
            emu.set_switches(**body)
            return _json(200, emu.switches())
        if name not in ACTIONS:
            return _json(404, {"error": f"unknown control action {name!r}"})
        return _json(200, _call(emu, name, body))
    except ApiError as err:
        return _json(400, {"error": err.message, "code": err.code})
    except (ValueError, TypeError, KeyError) as err:
        return _json(400, {"error": str(err)})
