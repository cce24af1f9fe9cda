"""The request log that tests assert on: what was asked, and what the emulator answered."""

import threading
from dataclasses import asdict, dataclass
from typing import Any

SECRET_PARAMS = frozenset({"client_secret", "password", "refresh_token", "api_key", "user_key"})


@dataclass(frozen=True)
class RequestRecord:
    """One API or token request as the emulator saw and answered it."""

    method: str
    path: str
    operation: str
    version: int | None
    params: dict[str, str]
    status: int
    error_code: int | None
    fault: str | None
    started_at: float
    duration_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)


def redact(params: dict[str, str]) -> dict[str, str]:
    """``params`` without the secret ones."""
    return {k: v for k, v in params.items() if k not in SECRET_PARAMS}


class RequestLog:
    """An append-only, thread-safe list of records."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        """Add one record."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """A copy of the records so far."""
        with self._lock:
            return list(self._records)

    def count(self, operation: str | None = None) -> int:
        """How many records (of one operation)."""
        with self._lock:
            if operation is None:
                return len(self._records)
            return sum(1 for r in self._records if r.operation == operation)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
