"""The documented error table (docs/errors.md), derived from the code: one row per code."""

from __future__ import annotations

from sources.pardot.codes import CODES, Kind
from sources.pardot.errors import CODES as RULES

EXIT_CODES = {
    Kind.CREDENTIALS: "2",
    Kind.ACCOUNT_SETTING: "2",
    Kind.DAILY_LIMIT: "75",
    Kind.CONCURRENCY: "1 (once the retries are spent)",
    Kind.TRANSIENT: "1 (once the retries are spent)",
    Kind.VERSION: "2 (after the one automatic switch)",
    Kind.NOT_FOUND: "1",
    Kind.WRITE_REFUSED: "1",
    Kind.INVALID_REQUEST: "1",
}


def rows() -> list[str]:
    """``| code | message | kind | exception | retried | exit code |``, in code order."""
    out = []
    for code, (message, kind) in sorted(CODES.items()):
        rule = RULES[code]
        retried = "yes" if rule.retried else "no"
        out.append(
            f"| {code} | {message} | {kind.value} | `{rule.error.__name__}` | {retried} "
            f"| {EXIT_CODES[kind]} |"
        )
    return out
