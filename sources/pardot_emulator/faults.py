"""Fault injection: latency, 5xx pages, dropped connections, truncated bodies, spurious
66s, proxy HTML pages and token expiry, all drawn from one seeded random stream.

Every request draws the same number of values in the same order whatever is switched on,
so the same seed and the same request sequence give the same faults.
"""

import random
import threading
from dataclasses import dataclass

from .config import FaultConfig

_5XX = ((503, "Service Unavailable"), (500, "Internal Server Error"), (502, "Bad Gateway"))


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request; ``kind`` names the fault for the request log."""

    kind: str | None = None
    status: int = 200
    body: bytes = b""
    retry_after: bool = False
    truncate_fraction: float | None = None
    latency: float = 0.0
    expire_tokens: bool = False


def html_page(status: int, reason: str) -> bytes:
    """A proxy-style HTML error page."""
    return (
        f"<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{reason}</h1><p>The server is temporarily unable to service your "
        f"request. Please try again later.</p><hr><address>nginx</address></body></html>\n"
    ).encode()


class FaultInjector:
    """Turns a :class:`FaultConfig` into per-request decisions; thread-safe."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the switches and restart the random stream from the config's seed."""
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._requests = 0

    def decide(self) -> FaultDecision:
        """The fault (or none) for the next API request."""
        with self._lock:
            c, rng = self.config, self._rng
            draws = [rng.random() for _ in range(10)]
            expire = False
            if c.token_expiry_after_requests:
                self._requests += 1
                if self._requests > c.token_expiry_after_requests:
                    expire, self._requests = True, 1
        latency = c.latency_seconds + c.latency_jitter_seconds * draws[9]
        if draws[0] < c.drop_rate:
            return FaultDecision("drop", latency=latency, expire_tokens=expire)
        if draws[1] < c.error_5xx_rate:
            status, reason = _5XX[int(draws[2] * len(_5XX)) % len(_5XX)]
            return FaultDecision(
                "5xx",
                status,
                html_page(status, reason),
                retry_after=draws[3] < 0.5,
                latency=latency,
                expire_tokens=expire,
            )
        if draws[4] < c.html_error_rate:
            status = 200 if draws[5] < 0.5 else 502
            return FaultDecision(
                "html", status, html_page(status, "Bad Gateway"), latency=latency,
                expire_tokens=expire,
            )  # fmt: skip
        if draws[8] < c.burst_66_rate:
            return FaultDecision("burst_66", latency=latency, expire_tokens=expire)
        if draws[6] < c.truncate_rate:
            return FaultDecision(
                "truncate", truncate_fraction=draws[7], latency=latency, expire_tokens=expire
            )
        return FaultDecision(latency=latency, expire_tokens=expire)
