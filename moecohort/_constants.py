"""The client's facts about the MoEngage APIs, and the limits it holds itself to.

Source: ``FACTS.md`` (MoEngage's public API reference). The emulator
(:mod:`moecohort.emulator`) keeps its own fact sheet, ``emulator/facts.py``, and imports
nothing from here, so that it catches the client's mistakes instead of repeating them;
``tests/test_emulator_facts.py`` holds the two against each other and explains every
difference.
"""

from __future__ import annotations

#: The package version (pyproject.toml reads it from here).
VERSION = "0.1.0"

#: Data center code -> region, as MoEngage documents them.
DATA_CENTERS: dict[str, str] = {
    "01": "US",
    "02": "EU",
    "03": "India",
    "04": "US",
    "05": "Singapore",
    "06": "Indonesia",
    "101": "not stated",
}

#: Host template; ``dc`` is a key of :data:`DATA_CENTERS` (``api-101``, never ``api-0101``).
HOST_TEMPLATE = "https://api-{dc}.moengage.com"

#: The Cohort Sync endpoint path.
COHORT_SYNC_PATH = "/v1/integrations/cohortsync"

#: Request body limit. The reference says "128KB"; we take the smaller reading.
MAX_BODY_BYTES = 128_000

#: Documented rate limit of the Cohort Sync API.
DEFAULT_REQUESTS_PER_MINUTE = 300

#: Length of the rate-limit window, in seconds.
RATE_WINDOW_S = 60.0

# --- Looking users up (FACTS.md, "Looking users up") -------------------------------------
#: The Get User API: ``POST {host}/v1/customers/export?app_id={workspace_id}``.
GET_USER_PATH = "/v1/customers/export"
#: The query parameter carrying the workspace ID.
GET_USER_APP_ID_PARAM = "app_id"
#: The ``identifier_type`` of a uid (the other documented one, ``id``, is MoEngage's own id).
LOOKUP_IDENTIFIER_TYPE = "customer_id"
#: At most this many identifiers in one Get User request ...
MAX_LOOKUP_IDENTIFIERS = 20
#: ... and this many users a minute (the client paces itself at it by default).
LOOKUPS_PER_MINUTE = 1000

#: The 400 ``type`` of a Get User request holding too many identifiers.
LOOKUP_LIMIT_BREACHED = "LimitBreached"

#: The 403 ``type`` values MoEngage documents for a blocked or suspended account.
SUSPENDED_TYPES = frozenset({"BlockedClient", "Account Suspended", "Account Temporarily Suspended"})

#: The Custom Segments API v3 (list: ``GET {host}/v3/custom-segments?name=...``).
CUSTOM_SEGMENTS_PATH = "/v3/custom-segments"
#: Its list limits as ``(window seconds, requests)``: 50 a minute, 200 an hour, 1,000 a day.
SEGMENT_LIST_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 50), (3600.0, 200), (86400.0, 1000))

HEADER_APPKEY = "MOE-APPKEY"
HEADER_PARTNER = "MOE-DESTINATION-PARTNER"
PARTNER_MOENGAGE = "moengage"

#: Values MoEngage never accepts as a user ID (compared case-insensitively after
#: trimming), plus the text pandas makes of missing values.
PLACEHOLDER_IDS: frozenset[str] = frozenset(
    {
        "",
        "unknown",
        "guest",
        "null",
        "0",
        "1",
        "2",
        "-1",
        "-2",
        "true",
        "false",
        "na",
        "n/a",
        "none",
        "(empty)",
        "id",
        "uid",
        "userid",
        "user_id",
        "customer_id",
        "user_attribute_unique_id",
        "dummy_seller_code",
        # pandas artefacts: what str() makes of NaN and pd.NA
        "nan",
        "<na>",
    }
)

#: Characters a cohort name must not contain (parentheses are reported rejected too).
FORBIDDEN_COHORT_NAME_CHARS = frozenset('|*?\\:<>=$"()')

SUCCESS_MESSAGE = "Your request has been accepted and will be processed soon."

#: The sample exports shipped in ``data/samples``: the source app's segment export ...
SAMPLE_SOURCE_FILE = "app_a_segment_export.csv"
#: ... and the destination app's users export.
SAMPLE_DESTINATION_FILE = "app_b_users.csv"
