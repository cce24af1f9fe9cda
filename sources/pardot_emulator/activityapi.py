"""The visitor activity operations under ``/api/visitorActivity``: ``do/query``.

Rendered from the views' tree in XML or JSON, the same conventions as the opportunity
query (``total_results`` first, the JSON one-vs-many quirk). Another operation is
error 2, as an unknown opportunity operation is.
"""

from collections.abc import Callable, Mapping
from datetime import datetime

from .activityquery import run_activity_query
from .errors import ApiError
from .render import json_ok, xml_ok
from .store import DataStore
from .views import Views


class VisitorActivityApi:
    """Dispatches ``do/<op>`` of the visitor activity route (under the store lock)."""

    def __init__(
        self, store: DataStore, views: Views, parse_time: Callable[[str], datetime]
    ) -> None:
        self.store = store
        self.views = views
        self.parse_time = parse_time

    def handle(
        self, operation: str, params: Mapping[str, str], version: int, as_json: bool = False
    ) -> bytes:
        """Run one operation and render its body; anything but ``query`` is error 2.

        ``version`` is checked before (88/89); no criterion of this query depends on it.
        """
        if operation != "query":
            raise ApiError(2)
        return self.query(params, as_json)

    def query(self, params: Mapping[str, str], as_json: bool = False) -> bytes:
        """``do/query``."""
        with self.store.lock:
            found = run_activity_query(self.store, params, self.parse_time)
            tree = self.views.activity_query_result(found.rows, found.total)
            return json_ok([tree]) if as_json else xml_ok([tree])
