"""The emulator's own fact sheet: what MoEngage documents about the APIs it emulates.

The Cohort Sync API, the Get User API and the Custom Segments API v3 ("Looking users up").

API facts only, each taken from ``FACTS.md`` (gathered from MoEngage's public API reference
and help centre) and written down here a second time on purpose. The client keeps its own
copy in its ``_constants`` module, mixed with its own policy; sharing one copy would mean
sharing its mistakes, and the emulator exists to catch them. ``tests/test_emulator_facts.py``
compares the two copies and says why they differ where they do.

Emulator policy (log sizes, fault settings, ports, sample files) lives next to the code
that uses it, not here. The one exception: values MoEngage does not document but a client
sees on the wire (the ``type``/``source`` of a segment that cohort sync created). They are
here so that they are written down once, and :data:`UNDOCUMENTED` names them: "not
documented; the emulator's own choice". A client may report them, never rely on them.
"""

from __future__ import annotations

__all__ = [
    "COHORT_SEGMENT_SOURCE",
    "COHORT_SEGMENT_TYPE",
    "COHORT_SYNC_PATH",
    "CUSTOM_SEGMENTS_PATH",
    "FORBIDDEN_COHORT_NAME_CHARS",
    "GET_USER_APP_ID_PARAM",
    "GET_USER_PATH",
    "HEADER_APPKEY",
    "HEADER_PARTNER",
    "IDENTIFIER_TYPES",
    "LOOKUPS_PER_MINUTE",
    "MAX_ACTIVE_SEGMENTS",
    "MAX_BODY_BYTES",
    "MAX_LOOKUP_IDENTIFIERS",
    "PARTNER_MOENGAGE",
    "PLACEHOLDER_IDS",
    "RATE_WINDOW_S",
    "REQUESTS_PER_MINUTE",
    "SEGMENT_GET_LIMITS",
    "SEGMENT_LIST_LIMITS",
    "SUCCESS_MESSAGE",
    "UNDOCUMENTED",
]

# FACTS.md: "POST https://api-{dc}.moengage.com/v1/integrations/cohortsync".
COHORT_SYNC_PATH = "/v1/integrations/cohortsync"

# FACTS.md: "Header MOE-APPKEY: the destination Workspace ID (must equal the Basic-auth username)".
HEADER_APPKEY = "MOE-APPKEY"

# FACTS.md: MoEngage-to-MoEngage setup "adds header MOE-DESTINATION-PARTNER: moengage".
HEADER_PARTNER = "MOE-DESTINATION-PARTNER"

# FACTS.md: the partner value of that header, which selects the Outbound Segment Sync body.
PARTNER_MOENGAGE = "moengage"

# FACTS.md: "Success: {"status": "success", "message": "Your request has been accepted and ..."}".
SUCCESS_MESSAGE = "Your request has been accepted and will be processed soon."

# FACTS.md: names "must not contain | * ? \ : < > = $ "; partners report parentheses rejected too".
FORBIDDEN_COHORT_NAME_CHARS: frozenset[str] = frozenset('|*?\\:<>=$"()')

# FACTS.md: "128KB" a body, 128,000 or 131,072 bytes unsaid: the strictest reading, 128,000.
MAX_BODY_BYTES = 128_000

# FACTS.md: "Rate limit: 300 requests per minute."
REQUESTS_PER_MINUTE = 300

# FACTS.md: "x-ratelimit-reset (seconds left in the 60 s window)".
RATE_WINDOW_S = 60.0

# FACTS.md, Identifiers: "customer_id / uid must not be any of" these ('' is the empty string).
PLACEHOLDER_IDS: frozenset[str] = frozenset(
    {
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
        "",
        "none",
        "(empty)",
        "id",
        "uid",
        "userid",
        "user_id",
        "customer_id",
        "user_attribute_unique_id",
        "dummy_seller_code",
    }
)

# FACTS.md: "A workspace has at most 1,000 active segments of all kinds."
MAX_ACTIVE_SEGMENTS = 1000

# --- Looking users up: the Get User API -------------------------------------------------------
# FACTS.md: "POST https://api-{dc}.moengage.com/v1/customers/export?app_id={workspace_id}".
GET_USER_PATH = "/v1/customers/export"

# FACTS.md: the workspace ID goes in the query string as "app_id".
GET_USER_APP_ID_PARAM = "app_id"

# FACTS.md: "identifier_type is customer_id (the uid) or id (MoEngage's internal id)".
IDENTIFIER_TYPES = ("customer_id", "id")

# FACTS.md: "Limits: at most 20 identifiers per request".
MAX_LOOKUP_IDENTIFIERS = 20

# FACTS.md: "1,000 users per minute (so 50 full requests a minute)".
LOOKUPS_PER_MINUTE = 1000

# --- Looking users up: the Custom Segments API v3 --------------------------------------------
# FACTS.md: "GET https://api-{dc}.moengage.com/v3/custom-segments?name=<exact name>" and
# "GET /v3/custom-segments/{id}".
CUSTOM_SEGMENTS_PATH = "/v3/custom-segments"

# FACTS.md: "Limits: list 50 requests/minute, 200/hour, 1,000/day" as (window seconds, limit).
SEGMENT_LIST_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 50), (3600.0, 200), (86400.0, 1000))

# FACTS.md: "get-by-id 100/minute, 1,000/hour, 4,000/day" as (window seconds, limit).
SEGMENT_GET_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 100), (3600.0, 1000), (86400.0, 4000))

# Not documented; the emulator's own choice. FACTS.md: "The type/source values of a segment
# that the Cohort Sync API created are not documented." Deliberately unlike any documented
# value ("ELASTIC_SEARCH", "API"), so a client that relies on them is caught.
COHORT_SEGMENT_TYPE = "COHORT_SYNC"
COHORT_SEGMENT_SOURCE = "COHORT_SYNC_API"

#: The names above that are not documented: the emulator's own choice.
UNDOCUMENTED: frozenset[str] = frozenset({"COHORT_SEGMENT_TYPE", "COHORT_SEGMENT_SOURCE"})
