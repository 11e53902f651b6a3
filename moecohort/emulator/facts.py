"""The emulator's own fact sheet: what MoEngage documents about the Cohort Sync API.

API facts only, each taken from ``FACTS.md`` (gathered from MoEngage's public API reference
and help centre) and written down here a second time on purpose. The client keeps its own
copy in its ``_constants`` module, mixed with its own policy; sharing one copy would mean
sharing its mistakes, and the emulator exists to catch them. ``tests/test_emulator_facts.py``
compares the two copies and says why they differ where they do.

Emulator policy (log sizes, fault settings, ports, sample files) lives next to the code
that uses it, not here.
"""

from __future__ import annotations

__all__ = [
    "COHORT_SYNC_PATH",
    "FORBIDDEN_COHORT_NAME_CHARS",
    "HEADER_APPKEY",
    "HEADER_PARTNER",
    "MAX_ACTIVE_SEGMENTS",
    "MAX_BODY_BYTES",
    "PARTNER_MOENGAGE",
    "PLACEHOLDER_IDS",
    "RATE_WINDOW_S",
    "REQUESTS_PER_MINUTE",
    "SUCCESS_MESSAGE",
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
