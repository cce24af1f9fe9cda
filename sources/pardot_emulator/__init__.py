"""A faithful local emulator of the Pardot (Account Engagement) v3/v4 Opportunity API.

``PardotEmulator(EmulatorConfig(...))`` is a WSGI app (mount it with
``httpx.WSGITransport``) with a Python control interface and a ground truth;
``running_server`` serves it on loopback; ``python -m sources.pardot_emulator serve``
runs it as a process.
"""

from .config import EmulatorConfig, FaultConfig
from .emulator import PardotEmulator
from .errors import ApiError
from .requestlog import RequestRecord
from .server import running_server

__all__ = [
    "ApiError",
    "EmulatorConfig",
    "FaultConfig",
    "PardotEmulator",
    "RequestRecord",
    "running_server",
]
