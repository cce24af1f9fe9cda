"""One answer of the emulator: status, body, content type, and what the log records.

Below both ``wsgi`` (which sends answers) and ``control`` (which builds its own), so
neither has to import the other's module for the type.
"""

from dataclasses import dataclass, field

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass
class Response:
    """Status, body and headers of one answer, plus what the log should say."""

    status: int
    body: bytes
    content_type: str = XML_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    error_code: int | None = None
