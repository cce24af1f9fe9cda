"""Validation of create/update parameters: strings in, typed opportunity fields out.

Pure functions over the merged request parameters; the codes follow Pardot's error list
(36 missing value, 38 campaign, 40 probability, 42 value, 7 timestamp).
"""

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .errors import ApiError

EDITABLE = ("name", "value", "probability", "type", "stage", "status", "closed_at", "campaign_id")
REQUIRED_ON_CREATE = ("name", "value", "probability")
STATUSES = ("won", "lost", "open")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_text(text: str) -> str:
    """Drop characters XML 1.0 cannot carry, so every stored string renders."""
    return _INVALID_XML.sub("", text)


def parse_value(text: str) -> float:
    """A non-negative finite number with at most cents precision; else error 42."""
    try:
        number = float(text)
    except ValueError as exc:
        raise ApiError(42) from exc
    if not math.isfinite(number) or number < 0:
        raise ApiError(42)
    return round(number, 2)


def parse_probability(text: str) -> int:
    """An integer 0 to 100; else error 40."""
    try:
        number = int(text.strip())
    except ValueError as exc:
        raise ApiError(40) from exc
    if not 0 <= number <= 100:
        raise ApiError(40)
    return number


def validate_fields(
    params: Mapping[str, str],
    *,
    creating: bool,
    campaign_exists: Callable[[int], bool],
    parse_time: Callable[[str], datetime],
) -> dict[str, Any]:
    """The editable fields present in ``params``, typed; empty values clear a field."""
    if creating:
        for name in REQUIRED_ON_CREATE:
            if not params.get(name, "").strip():
                raise ApiError(36)
    out: dict[str, Any] = {}
    for name in EDITABLE:
        if name not in params:
            continue
        raw = params[name]
        empty = raw.strip() == ""
        if empty and name in REQUIRED_ON_CREATE:
            raise ApiError(36)
        if name == "name":
            out[name] = clean_text(raw)
        elif name == "value":
            out[name] = parse_value(raw)
        elif name == "probability":
            out[name] = parse_probability(raw)
        elif name in ("type", "stage"):
            out[name] = clean_text(raw)
        elif name == "status":
            status = raw.strip().lower()
            if status and status not in STATUSES:
                raise ApiError(10000, "Invalid value for status", param="status")
            out[name] = status
        elif name == "closed_at":
            out[name] = None if empty else parse_time(raw)
        elif name == "campaign_id":
            out[name] = None if empty else _campaign(raw, campaign_exists)
    return out


def _campaign(raw: str, exists: Callable[[int], bool]) -> int:
    try:
        campaign_id = int(raw.strip())
    except ValueError as exc:
        raise ApiError(38) from exc
    if not exists(campaign_id):
        raise ApiError(38)
    return campaign_id


def parse_int(text: str, code: int) -> int:
    """An integer, or ``ApiError(code)``."""
    try:
        return int(text.strip())
    except ValueError as exc:
        raise ApiError(code) from exc
