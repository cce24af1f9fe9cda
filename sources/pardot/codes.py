"""Every error code Pardot documents for API v3/v4, and what each means to the connector.

Pardot answers a failed request with ``<rsp stat="fail"><err code="N">`` (or its JSON
rendering) and a code from one list, shared by every object. Each code is placed here
in one ``Kind``; ``errors`` turns a kind into the exception the run acts on, whether
another attempt may succeed, and so the command's exit code. A code not listed is an
unexpected API error (exit 1). The messages are Pardot's own, abridged.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from .constants import SANDBOX_BASE_URL


class Kind(Enum):
    """What a code asks of the connector."""

    CREDENTIALS = "credentials"
    """The credentials or the API user are refused: fix them (exit 2)."""
    ACCOUNT_SETTING = "account setting"
    """An administrator must change a setting of the account (exit 2)."""
    DAILY_LIMIT = "daily limit"
    """Stop for today, progress saved (exit 75)."""
    CONCURRENCY = "concurrency"
    """Too many requests in flight: wait and retry."""
    TRANSIENT = "transient"
    """Pardot's own trouble, or a rate: wait and retry."""
    VERSION = "version"
    """The business unit needs the other API version: switch once, else exit 2."""
    NOT_FOUND = "not found"
    """No such (live) record."""
    WRITE_REFUSED = "write refused"
    """A CRM connector makes opportunities read-only (writes only; a sync never writes)."""
    INVALID_REQUEST = "invalid request"
    """The request itself is wrong: a bug in the connector, or an operation it never
    makes (exit 1)."""


_C, _S, _D = Kind.CREDENTIALS, Kind.ACCOUNT_SETTING, Kind.DAILY_LIMIT
_T, _N, _W, _I = Kind.TRANSIENT, Kind.NOT_FOUND, Kind.WRITE_REFUSED, Kind.INVALID_REQUEST

CODES: Final[dict[int, tuple[str, Kind]]] = {
    1: ("Invalid API key or user key", _C),
    2: ("Invalid action", _I),
    3: ("Invalid prospect ID", _I),
    4: ("Invalid prospect email address", _I),
    5: ("Invalid query parameters", _I),
    6: ("Invalid time frame", _I),
    7: ("Invalid timestamp", _I),
    8: ("Invalid time range", _I),
    9: ("A prospect with the specified email address already exists", _I),
    10: ("Invalid user ID", _I),
    11: ("Invalid user email address", _I),
    12: ("Invalid group ID", _I),
    13: ("One or more required parameters are missing", _I),
    14: ("Non-existent prospect ID; No email address provided", _I),
    15: ("Login failed", _C),
    16: ("Invalid ID", _I),
    17: ("Invalid ID range", _I),
    18: ("Invalid value for profile criteria matching status", _I),
    19: ("Invalid value specified for sort_by", _I),
    20: ("Invalid value specified for sort_order", _I),
    21: ("Invalid value specified for offset", _I),
    22: ("Unsupported feature in this version of the API", _S),
    23: ("Invalid value specified for limit", _I),
    24: ("Invalid visitor ID", _I),
    25: ("Parameter is_starred must be true or false", _I),
    26: ("Parameter assigned must be true or false", _I),
    27: ("Parameter deleted must be true or false", _I),
    28: ("Parameter new must be true or false", _I),
    29: ("Invalid value specified for score", _I),
    30: ("Invalid score range specified", _I),
    31: ("Invalid combination of parameters for score", _I),
    32: ("Invalid value specified for grade", _I),
    33: ("Invalid grade range specified", _I),
    34: ("Invalid combination of parameters for grade", _I),
    35: ("Invalid opportunity ID", _N),
    36: ("One or more required parameter values are missing", _I),
    37: ("A SalesForce connector was detected", _W),
    38: ("Invalid campaign ID", _I),
    39: ("Invalid profile ID", _I),
    40: ("Invalid opportunity probability", _I),
    41: ("Invalid probability range specified", _I),
    42: ("Invalid opportunity value", _I),
    43: ("Invalid opportunity value range specified", _I),
    44: ("The provided prospect_id and prospect_email parameters do not match", _I),
    45: ("The provided user_id and user_email parameters do not match", _I),
    46: ("This API user lacks sufficient permissions for the requested operation", _C),
    47: ("Multiple assignment targets were specified", _I),
    48: ("Invalid visit ID", _I),
    49: ("Access Denied", _C),
    50: ("Invalid boolean", _I),
    51: ("Invalid parameter", _I),
    52: ("Invalid parameter range", _I),
    53: ("Client IP address/location must be activated before accessing API", _S),
    54: ("Email address is already in use", _I),
    55: ("Invalid list ID", _I),
    56: ("Invalid number entered for field", _I),
    57: ("Invalid date entered for field", _I),
    58: ("That prospect is already a member of that list", _I),
    59: ("A CRM connector was detected", _W),
    60: ("Invalid HTTP request method", _I),
    61: ("Invalid prospect account id", _I),
    62: ("Conflicting Update", _T),
    63: ("Too many IDs specified", _I),
    64: ("Email content missing required variables", _I),
    65: ("Invalid email format", _I),
    66: ("You have exceeded your concurrent request limit", Kind.CONCURRENCY),
    67: ("You have reached the limit of how many of this type of object you may have", _I),
    68: ("Template with this id does not exist", _I),
    70: ("Batch processing is limited to 50 prospects at once", _I),
    71: ("Input needs to be valid JSON or XML", _I),
    72: ("JSON has been corrupted, hash does not match", _I),
    73: ("No Email Plug-in Campaign is associated to track this email", _I),
    74: ("The email client is not supported by the plugin API", _I),
    75: ("There was an error processing the request for the account variable tags", _I),
    76: ("API access was disabled", _C),
    77: ("Invalid prospect fid", _I),
    79: ("Invalid CRM_FID", _I),
    80: ("Invalid CRM_TYPE", _I),
    81: ("Prospect ID and FID do not match", _I),
    83: ("No valid CRM connectors available", _I),
    85: ("Unable to save the prospect", _T),
    86: ("Invalid Template id", _I),
    88: ("Your account must use version 4 of the API", Kind.VERSION),
    89: ("Your account is unable to use version 4 of the API", Kind.VERSION),
    90: ("Prospect array should be a flat array of attributes", _I),
    91: ("Prospect array must be keyed by email address", _I),
    92: ("Prospect record could not be found", _I),
    93: ("The selected template is missing send options", _I),
    94: ("The provided version is not a valid number", _I),
    95: ("Folder name is invalid", _I),
    96: ("User does not have access to this folder", _S),
    97: ("The folder ID provided does not exist", _I),
    98: ("Prospect not mailable", _I),
    99: ("User with the provided email already exists", _I),
    100: ("The provided time zone is invalid", _I),
    101: ("The provided role is invalid", _I),
    102: ("The CRM Username specified is currently applied to another user", _I),
    103: ("A CRM connector was not detected", _I),
    104: ("The CRM Username specified was not detected", _I),
    105: ("There is no activation hash for the specified user", _I),
    106: ("User is already active", _I),
    107: ("Password does not meet requirements", _I),
    108: ("This Asset cannot be deleted because it is being used in other places", _I),
    109: ("The requested record was not found", _N),
    110: ("Invalid Account Id", _I),
    111: ("The Integration Username specified is currently applied to another Account", _I),
    112: ("Missing recipient to Track With Engage", _I),
    113: ("Missing CRM ID or Email Address of recipient", _I),
    114: ("Invalid CRM ID or Email Address of recipient", _I),
    115: ("Number of recipients is more than threshold", _I),
    116: ("Request outdated", _T),
    117: ("There was an error deleting the micro campaign", _I),
    118: ("This API can only be called in a test environment", _I),
    119: ("Unable to create refresh tokens for Salesforce connector", _T),
    120: ("Unable to verify Salesforce connector", _T),
    121: ("Unable to sync Prospect with Salesforce", _T),
    122: ("Daily API rate limit met", _D),
    123: ("Unable to verify Salesforce username", _I),
    124: ("Unable to set Salesforce username or id", _I),
    125: ("Cannot accept both user_id and crm_owner_fid", _I),
    126: ("Invalid authentication mechanism", _C),
    128: ("Cannot create campaigns", _I),
    129: ("Cannot modify campaign name or cost", _I),
    130: ("One or more of the specified fields are invalid", _I),
    131: ("Your account is locked due to too many failed login attempts", _C),
    132: ("Prospect is archived", _I),
    133: ("Up to 2 sort by options are allowed", _I),
    134: ("Up to 2 sort order options are allowed", _I),
    135: ("When passing a comma-separated value, one of the two values must be id", _I),
    137: ("URL is not valid. Please include a protocol", _I),
    138: ("Name must be 50 characters or less", _I),
    139: ("The supplied name is not valid", _I),
    145: ("Invalid archived parameter specified", _I),
    146: ("Invalid archived parameter specified", _I),
    150: ("Input needs to be valid JSON", _I),
    151: ("Unsupported content-type", _I),
    152: ("Request body can't be empty", _I),
    153: ("Missing required property in request", _I),
    154: ("Invalid property in request", _I),
    155: ("Can't update. Import must be in Open state", _I),
    156: ("Can't start processing. Import has no associated data", _I),
    157: ("Error processing import request", _I),
    158: ("Uploading a file was unsuccessful", _I),
    159: ("The file is not in a valid CSV format", _I),
    160: ("The limit of batches per import has been reached", _I),
    161: ("The current state of the import does not allow the operation", _I),
    162: ("No file was specified or uploaded", _I),
    163: ("Too many files were specified or uploaded", _I),
    164: ("Daily limit of import batches has been reached", _D),
    165: ("column options is invalid", _I),
    166: ("The input is not in the required format", _I),
    168: ("Background Queue is in an invalid state", _I),
    169: ("Background Queue is an invalid type", _I),
    174: ("Unknown procedure name", _I),
    175: ("Unknown procedure argument", _I),
    176: ("Missing required argument", _I),
    177: ("Invalid procedure argument", _I),
    181: ("A required header is missing", _C),
    182: ("Invalid header value", _C),
    183: ("An internal error occurred, please try your request again", _T),
    184: ("access_token is invalid, unknown, or malformed", _C),
    192: ("Object specified does not exist", _N),
    196: ("Invalid authentication mechanism", _C),
    199: ("Authentication using an api_key is no longer supported", _C),
    201: ("Business Unit not found or inactive", _C),
    202: ("Minute rate limit met", _T),
    214: ("API request timed out", _T),
    10000: ("Invalid parameter value (the param attribute names it)", _I),
}
"""Code -> (Pardot's message, abridged; the kind of the code)."""

HINTS: Final[dict[int, str]] = {
    1: "invalid API key or user key (legacy auth): configure OAuth credentials instead",
    15: "login failed (legacy auth): configure OAuth credentials instead",
    22: "this feature needs the other API version: set api_version in [sources.pardot]",
    46: "the API user lacks permissions: grant it access to opportunities in Pardot",
    49: "access denied: check the user is SSO-enabled for Pardot and the connected app "
    "has the pardot_api scope",
    53: "this machine's IP address is not allowed to use the API: an administrator must add "
    "it to the API user's allowed IP addresses (Salesforce Setup > Network Access, or the "
    "profile's Login IP Ranges)",
    76: "API access is disabled for this account: ask the Pardot admin to enable it",
    88: "the business unit must use API version 4: set api_version = 4 in [sources.pardot]",
    89: "the business unit cannot use API version 4: set api_version = 3 in [sources.pardot]",
    96: "the API user has no access to the folder: an administrator must grant its role access",
    126: "invalid authentication mechanism: use OAuth (access_token, refresh_token or "
    "password flow)",
    131: "the account is locked after failed logins: unlock it in Salesforce",
    181: "a required header is missing: check business_unit_id is set",
    182: "invalid header value: check business_unit_id (18 characters, starting 0Uv)",
    184: "access token rejected (184): refresh it or configure "
    "client_id/client_secret/refresh_token",
    196: "invalid authentication mechanism: use OAuth (access_token, refresh_token or "
    "password flow)",
    199: "api_key authentication is no longer supported: configure OAuth credentials",
    201: "business unit id not found or inactive: check business_unit_id and whether "
    f"base_url should be the sandbox host {SANDBOX_BASE_URL}",
}
"""What to change, for every code that a person must fix (credentials, account settings)."""
