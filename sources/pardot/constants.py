"""Constants of the Pardot v3/v4 Opportunity API and of this connector.

Constants only, no behaviour, no imports from the rest of the package; the settings a
user chooses live in ``config``. The emulator may import from here (paths, limits), but
never the connector's parser or client.
"""

from typing import Final

DEFAULT_BASE_URL: Final = "https://pi.pardot.com"
SANDBOX_BASE_URL: Final = "https://pi.demo.pardot.com"
DEFAULT_TOKEN_URL: Final = "https://login.salesforce.com/services/oauth2/token"
SANDBOX_TOKEN_URL: Final = "https://test.salesforce.com/services/oauth2/token"
TOKEN_PATH: Final = "/services/oauth2/token"

API_VERSIONS: Final = (3, 4)
DEFAULT_API_VERSION: Final = 3
OPERATIONS: Final = ("query", "read", "create", "update", "delete", "undelete")
"""The six operations of the Opportunity API, as they appear after ``/do/`` in the URL."""

OPPORTUNITY_PATH: Final = "/api/opportunity/version/{version}/do/{operation}"
"""Path of an operation; a record id is appended as ``/id/{id}``."""

MAX_PAGE_SIZE: Final = 200
"""Pardot returns at most 200 rows a query (except ``output=mobile``)."""
MAX_CONCURRENCY: Final = 5
"""Pardot's per-account limit of requests in flight; the sixth gets error 66."""
DEFAULT_CONCURRENCY: Final = 4
BUSINESS_UNIT_ID_PREFIX: Final = "0Uv"
BUSINESS_UNIT_ID_LENGTH: Final = 18

PARDOT_TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
"""How Pardot renders timestamps: local time of the API user, no zone, whole seconds."""

QUERY_OUTPUTS: Final = ("full", "simple", "mobile", "bulk")
SORT_FIELDS: Final = ("created_at", "id", "probability", "value")
OPPORTUNITY_STATUSES: Final = ("won", "lost", "open")

EDITABLE_OPPORTUNITY_FIELDS: Final = (
    "name",
    "value",
    "probability",
    "type",
    "stage",
    "status",
    "closed_at",
    "campaign_id",
)

VISITOR_ACTIVITY_OPTIONAL_ID_FIELDS: Final = (
    "email_id",
    "email_template_id",
    "list_email_id",
    "form_id",
    "form_handler_id",
    "site_search_query_id",
    "landing_page_id",
    "paid_search_ad_id",
    "multivariate_test_variation_id",
    "visitor_page_view_id",
    "file_id",
    "custom_redirect_id",
)
"""Visitor-activity fields that Pardot sends only when they apply."""

# Table names of the public contract: users query them, so they never change.
OPPORTUNITIES_TABLE: Final = "opportunities"
CAMPAIGNS_TABLE: Final = "campaigns"
PROSPECTS_TABLE: Final = "prospects"
OPPORTUNITY_PROSPECTS_TABLE: Final = "opportunity_prospects"
VISITOR_ACTIVITIES_TABLE: Final = "visitor_activities"
REJECTED_ROWS_TABLE: Final = "rejected_rows"
OPPORTUNITY_HISTORY_TABLE: Final = "opportunity_history"

V5_OPPORTUNITIES_PATH: Final = "/api/v5/objects/opportunities"
"""API v5's opportunity query (JSON; ``fields`` mandatory, ``nextPageToken`` paging)."""
V5_MAX_PAGE_SIZE: Final = 1000
V5_CHAIN_CAP_WARNING: Final = "203"
"""The code in the ``Pardot-Warning`` header of a page that ends a token chain at its cap
(100,000 records) although more match."""

VISITOR_ACTIVITY_PATH: Final = "/api/visitorActivity/version/{version}/do/{operation}"
"""Path of a visitor activity operation (``query``; ``read`` appends ``/id/{id}``)."""

ACTIVITY_NEW_OPPORTUNITY: Final = 8
ACTIVITY_OPPORTUNITY_WON: Final = 9
ACTIVITY_OPPORTUNITY_LOST: Final = 10
ACTIVITY_OPPORTUNITY_REOPENED: Final = 18
ACTIVITY_OPPORTUNITY_LINKED: Final = 19
ACTIVITY_OPPORTUNITY_UNLINKED: Final = 38
OPPORTUNITY_ACTIVITY_TYPES: Final = {
    ACTIVITY_NEW_OPPORTUNITY: "New Opportunity",
    ACTIVITY_OPPORTUNITY_WON: "Opportunity Won",
    ACTIVITY_OPPORTUNITY_LOST: "Opportunity Lost",
    ACTIVITY_OPPORTUNITY_REOPENED: "Opportunity Reopened",
    ACTIVITY_OPPORTUNITY_LINKED: "Opportunity Associated",
    ACTIVITY_OPPORTUNITY_UNLINKED: "Opportunity Unlinked",
}
"""Visitor activity type codes of opportunity events, with the ``type_name`` Pardot
renders (19 is documented as "Opportunity Linked" but rendered "Opportunity Associated")."""
