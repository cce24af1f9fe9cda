"""Access tokens: the fake Salesforce OAuth token endpoint and bearer-token checks.

Tokens live ``token_lifetime_seconds`` of real (monotonic) time. The configured static
token is accepted from the start. A fault can expire every token issued so far at once.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

from .config import EmulatorConfig

ORG_ID = "00D000000000001AAA"
USER_ID = "005000000000001AAA"


class TokenRegistry:
    """Issued access tokens with their expiry; thread-safe."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._seq = 1
        self._revoked_below = 0
        # token -> (issue sequence number, monotonic expiry or None for the static token)
        self._tokens: dict[str, tuple[int, float | None]] = {config.default_token: (0, None)}

    def issue(self) -> str:
        """A new access token valid for the configured lifetime."""
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(32)}"
        with self._lock:
            expiry = time.monotonic() + self._config.token_lifetime_seconds
            self._tokens[token] = (self._seq, expiry)
            self._seq += 1
        return token

    def valid(self, token: str) -> bool:
        """Whether ``token`` is known, not expired and not revoked."""
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None or entry[0] < self._revoked_below:
                return False
            return entry[1] is None or time.monotonic() < entry[1]

    def expire_all(self) -> None:
        """Expire every token issued so far, the static one included."""
        with self._lock:
            self._revoked_below = self._seq


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def token_response(
    config: EmulatorConfig,
    registry: TokenRegistry,
    params: Mapping[str, str],
    authorization: str,
    instance_url: str,
) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body of ``POST /services/oauth2/token``."""
    client_id = params.get("client_id", "")
    client_secret = params.get("client_secret", "")
    basic = _basic_credentials(authorization)
    if basic is not None and not client_id:
        client_id, client_secret = basic
    grant = params.get("grant_type", "")
    if grant not in ("password", "refresh_token"):
        return 400, {
            "error": "unsupported_grant_type",
            "error_description": "grant type not supported",
        }
    if client_id not in config.oauth_clients:
        return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
    if not hmac.compare_digest(config.oauth_clients[client_id], client_secret):
        return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
    if grant == "password":
        username, password = params.get("username", ""), params.get("password", "")
        expected = config.oauth_users.get(username)
        if expected is None or not hmac.compare_digest(expected, password):
            return 400, {"error": "invalid_grant", "error_description": "authentication failure"}
    elif params.get("refresh_token", "") not in config.refresh_tokens:
        return 400, {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    issued_at = str(int(time.time() * 1000))
    identity = f"{instance_url}/id/{ORG_ID}/{USER_ID}"
    digest = hmac.new(client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
    return 200, {
        "access_token": registry.issue(),
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(digest.digest()).decode(),
    }
