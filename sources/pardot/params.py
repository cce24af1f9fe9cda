"""Local checks of request parameters: fail before sending, naming the allowed values.

The query parameters of the Opportunity API and the editable opportunity fields, rendered as the
strings Pardot expects. Pure functions, used by ``client``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Final

from sources.pardot.constants import (
    EDITABLE_OPPORTUNITY_FIELDS,
    MAX_PAGE_SIZE,
    OPPORTUNITY_STATUSES,
    QUERY_OUTPUTS,
    SORT_FIELDS,
)

_QUERY_INTS: Final[dict[str, tuple[int, int | None]]] = {
    "id_greater_than": (0, None),
    "id_less_than": (1, None),
    "probability_greater_than": (0, 100),
    "probability_less_than": (0, 100),
    "value_greater_than": (0, None),
    "value_less_than": (0, None),
    "prospect_id": (1, None),
    "limit": (1, MAX_PAGE_SIZE),
    "offset": (0, None),
}
_QUERY_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "sort_by": SORT_FIELDS,
    "sort_order": ("ascending", "descending"),
    "output": QUERY_OUTPUTS,
}
_QUERY_TEXTS: Final = ("created_after", "created_before", "prospect_email")


def _integer(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name} must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if number < low or (high is not None and number > high):
        bounds = f"{low}-{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, not {number}")
    return number


def positive_id(value: object, name: str) -> int:
    """Check a record id (a positive integer) before it goes into a path."""
    return _integer(value, name, 1)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise ValueError(f"{name} must be a non-empty printable string")
    return value.strip()


def query_params(params: Mapping[str, object]) -> dict[str, str]:
    """Check ``do/query`` parameters against the API's documented ones and render them as strings.

    Raises:
        ValueError: an unknown name or a value out of range.
    """
    return _checked(params, "query parameter", _QUERY_INTS, _QUERY_CHOICES, _QUERY_TEXTS)


_ACTIVITY_INTS: Final[dict[str, tuple[int, int | None]]] = {
    "id_greater_than": (0, None),
    "id_less_than": (1, None),
    "prospect_id": (1, None),
    "limit": (1, MAX_PAGE_SIZE),
    "offset": (0, None),
}
_ACTIVITY_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "sort_by": ("created_at", "id", "prospect_id", "visitor_id"),
    "sort_order": ("ascending", "descending"),
    "output": ("simple", "mobile"),
}


def activity_query_params(params: Mapping[str, object]) -> dict[str, str]:
    """Check visitor activity ``do/query`` parameters (those this connector sends) and
    render them; ``type`` is a list of activity type codes.

    Raises:
        ValueError: an unknown name or a value out of range.
    """
    return _checked(
        params,
        "activity query parameter",
        _ACTIVITY_INTS,
        _ACTIVITY_CHOICES,
        ("created_after", "created_before"),
        code_lists=("type",),
    )


def _checked(
    params: Mapping[str, object],
    what: str,
    ints: Mapping[str, tuple[int, int | None]],
    choices: Mapping[str, tuple[str, ...]],
    texts: tuple[str, ...],
    *,
    code_lists: tuple[str, ...] = (),
) -> dict[str, str]:
    rendered: dict[str, str] = {}
    for name, value in params.items():
        if name in ints:
            rendered[name] = str(_integer(value, name, *ints[name]))
        elif name in choices:
            if value not in choices[name]:
                raise ValueError(f"{name} must be one of {', '.join(choices[name])}")
            rendered[name] = str(value)
        elif name in texts:
            rendered[name] = _text(value, name)
        elif name in code_lists:
            if not isinstance(value, tuple | list) or not value:
                raise ValueError(f"{name} must be a non-empty list of codes")
            rendered[name] = ",".join(str(_integer(code, name, 1)) for code in value)
        else:
            known = ", ".join(sorted((*ints, *choices, *texts, *code_lists)))
            raise ValueError(f"unknown {what} {name!r}; known: {known}")
    return rendered


def _amount(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("value must be a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError("value must be a number") from None
    if not number.is_finite() or number < 0:
        raise ValueError("value must be a finite number >= 0")
    return format(number, "f")


def form_fields(fields: Mapping[str, object], *, clear_none: bool = False) -> dict[str, str]:
    """Check editable opportunity fields and render them as form values.

    Args:
        fields: field name to value.
        clear_none: send None as an empty value (clears the field, for update);
            otherwise None fields are left out.

    Raises:
        ValueError: an unknown field or a malformed value.
    """
    form: dict[str, str] = {}
    for name, value in fields.items():
        if name not in EDITABLE_OPPORTUNITY_FIELDS:
            editable = ", ".join(EDITABLE_OPPORTUNITY_FIELDS)
            raise ValueError(f"unknown opportunity field {name!r}; editable: {editable}")
        if value is None:
            if clear_none:
                form[name] = ""
        elif name == "value":
            form[name] = _amount(value)
        elif name == "probability":
            form[name] = str(_integer(value, name, 0, 100))
        elif name == "campaign_id":
            form[name] = str(positive_id(value, name))
        elif name == "status":
            status = _text(value, name).lower()
            if status not in OPPORTUNITY_STATUSES:
                raise ValueError(f"status must be one of {', '.join(OPPORTUNITY_STATUSES)}")
            form[name] = status
        else:
            form[name] = _text(value, name)
    return form
