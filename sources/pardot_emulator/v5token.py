"""v5 page tokens: the whole query and its keyset cursor, signed, in one opaque string.

A token is ``<payload>.<signature>``, both base64url without padding: the payload is
compact JSON (the query, the last row's sort key and id, how many rows the chain has
returned, the virtual instant it was issued), the signature an HMAC of it with a key
made per emulator, so an edited token or one from another emulator is refused rather
than read. Clients must treat it as opaque; only its URL safety and lifetime are
promised.
"""

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

TOKEN_LIFETIME_SECONDS = 4 * 3600
"""How long a token stays valid on the virtual clock, counted from its page."""


class TokenError(ValueError):
    """A token that cannot be used: unknown, tampered with, or expired."""


@dataclass(frozen=True)
class PageToken:
    """What the next page needs: the query, where the last page stopped, the chain."""

    query: dict[str, Any]
    """The query's parameters as :mod:`.v5query` reads them back (JSON types)."""
    after: tuple[int, int]
    """The last row's (sort key, id): the next page starts strictly after it."""
    served: int
    """Rows the chain has returned so far (the chain cap counts them)."""
    issued_at: int
    """Virtual epoch second of the page that issued it."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenCodec:
    """Signs and reads page tokens with one emulator's key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest()[:18])

    def encode(self, token: PageToken) -> str:
        """The opaque text of ``token`` (URL-safe: letters, digits, ``-_.``)."""
        doc = {"q": token.query, "a": list(token.after), "n": token.served, "t": token.issued_at}
        payload = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def decode(self, text: str, now: int) -> PageToken:
        """The token ``text`` stands for; :class:`TokenError` if unknown or expired."""
        body, dot, signature = text.strip().partition(".")
        try:
            payload = _unb64(body)
        except ValueError as exc:
            raise TokenError("nextPageToken is not valid") from exc
        if not dot or not hmac.compare_digest(signature, self._sign(payload)):
            raise TokenError("nextPageToken is not valid")
        doc = json.loads(payload)
        token = PageToken(doc["q"], (int(doc["a"][0]), int(doc["a"][1])), doc["n"], doc["t"])
        if now - token.issued_at > TOKEN_LIFETIME_SECONDS:
            raise TokenError("nextPageToken has expired (tokens are valid for 4 hours)")
        return token
