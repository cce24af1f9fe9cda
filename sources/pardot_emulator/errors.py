"""Pardot error codes and messages, and the exception that carries one.

Every failure the emulated API reports in a ``<rsp stat="fail">`` body starts life as an
:class:`ApiError` raised somewhere in the emulator; the WSGI layer renders it. The control
interface raises the same exception, so tests see the code the API would have sent.
"""

from typing import Final

MESSAGES: Final[dict[int, str]] = {
    2: "Invalid action",
    3: "Invalid prospect ID",
    4: "Invalid prospect email address",
    7: "Invalid timestamp",
    8: "Invalid time range",
    13: "One or more required parameters are missing",
    16: "Invalid ID",
    17: "Invalid ID range",
    19: "Invalid value specified for sort_by",
    20: "Invalid value specified for sort_order",
    21: "Invalid value specified for offset",
    22: "Unsupported feature in this version of the API",
    23: "Invalid value specified for limit",
    35: "Invalid opportunity ID",
    36: "One or more required parameter values are missing",
    38: "Invalid campaign ID",
    40: "Invalid opportunity probability",
    41: "Invalid probability range specified",
    42: "Invalid opportunity value",
    43: "Invalid opportunity value range specified",
    44: "The provided prospect_id and prospect_email parameters do not match",
    53: "Client IP address/location must be activated before accessing API",
    59: "A CRM connector was detected",
    60: "Invalid HTTP request method",
    66: "You have exceeded your concurrent request limit. Please wait, before trying again",
    88: "Your account must use version 4 of the API.",
    89: "Your account is unable to use version 4 of the API.",
    122: "Daily API rate limit met.",
    181: "A required header is missing",
    184: "access_token is invalid, unknown, or malformed",
    201: "Business Unit not found or inactive",
    10000: "Invalid parameter value",
}


class ApiError(ValueError):
    """A Pardot body error: numeric ``code``, human ``message``, optional ``param``."""

    def __init__(self, code: int, message: str | None = None, *, param: str | None = None):
        self.code = code
        self.message = message if message is not None else MESSAGES.get(code, "Error")
        self.param = param
        super().__init__(f"Pardot error {code}: {self.message}")
