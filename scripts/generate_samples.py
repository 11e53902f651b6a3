#!/usr/bin/env python3
"""Generate the sample exports of two MoEngage apps in ``data/samples/``.

App A ("ShopNow", data center 01, US) exports the segment "High intent shoppers";
app B ("ShopNow Plus", data center 02, EU, a loyalty/subscription product) exports its
users. Both files look like MoEngage dashboard exports (display-name headers, the unique
id as ``ID``) and carry the identifier problems real exports have: anonymous users
without an ID, placeholder IDs MoEngage never accepts, duplicates, stray whitespace.

Everything is fake. The output is deterministic: a fixed seed, and only the most basic
numpy draws (``random``, ``standard_normal``, ``integers``, ``permutation``), so running
the script twice gives byte-identical files::

    python scripts/generate_samples.py [--out data/samples]

The README in the output folder is written by this script too, with every quirk count
computed from the rows it wrote.
"""

from __future__ import annotations

import argparse
import csv
import unicodedata
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from moecohort._constants import PLACEHOLDER_IDS
from moecohort._constants import SAMPLE_DESTINATION_FILE as B_FILE
from moecohort._constants import SAMPLE_SOURCE_FILE as A_FILE

SEED = 20261120
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "samples"

README = "README.md"
A_WHAT = 'dashboard "Export users" of the segment "High intent shoppers"'
B_WHAT = "users export of the app"

A_COLUMNS = [
    "ID",
    "MoEngage User ID",
    "First Name",
    "Email",
    "Country",
    "Plan",
    "Lifetime Value",
    "Orders",
    "First Seen",
    "Last Seen",
    "Push Opt-in",
]
B_COLUMNS = [
    "ID",
    "MoEngage User ID",
    "First Name",
    "Email",
    "Country",
    "Membership Tier",
    "Points Balance",
    "Lifetime Value",
    "Last Seen",
]

# Time window: every timestamp lies between these two instants (UTC).
WINDOW_START = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp())
EXPORTED_AT = int(datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc).timestamp())
DAY = 86_400

# --- population sizes -------------------------------------------------------------------
N_SHARED = 2_400  # same ID, written identically, in both apps: the exact overlap
N_NEAR_MISS = 14  # in A; in B only with stray whitespace around the ID
N_A_ONLY = 1_346
N_B_ONLY = 2_375
N_B_WHITESPACE_ONLY = 6  # B-only users whose ID carries stray whitespace

N_A_ANONYMOUS = 160  # ~4 %: empty ID
A_PLACEHOLDERS = {"0": 24, "-1": 16}  # ~1 %: numbers MoEngage never accepts as an ID
N_A_DUPLICATE_ROWS = 40  # ~1 %: exact copies of a user's row

N_B_ANONYMOUS = 150  # ~3 %: empty ID
B_PLACEHOLDERS = {"guest": 6, "unknown": 5, "null": 4, "N/A": 3, "None": 4, "(empty)": 3}
N_B_DUPLICATED_IDS = 30  # IDs held by two profiles each

# What pandas' read_csv turns into NaN by default (a subset of its default na_values).
PANDAS_DEFAULT_NA = frozenset({"", "null", "N/A", "None", "NA", "n/a", "NULL", "nan", "NaN"})


FIRST_NAMES = [
    "Aaliyah", "Aarav", "Amara", "Ana", "Andrea", "Ben", "Camille", "Carlos", "Chen",
    "Chloé", "Daniel", "Diego", "Elena", "Emma", "Fatima", "Finn", "Freya", "Gabriel",
    "Grace", "Hana", "Hugo", "Ingrid", "Isabel", "Jack", "Jamal", "Javier", "Jonas",
    "José", "Julia", "Kai", "Kenji", "Lars", "Laura", "Leila", "Liam", "Lucas", "Łukasz",
    "Maja", "Marco", "María", "Matteo", "Maya", "Mia", "Mohammed", "Nadia", "Noah", "Nora",
    "Olivia", "Omar", "Priya", "Rafael", "Ravi", "Rosa", "Sam", "Sara", "Sofia", "Søren",
    "Tariq", "Theo", "Valentina", "Wei", "Yara", "Yusuf", "Zoë",
]  # fmt: skip
#: Equal weights, for drawing first names with :func:`pick`.
FIRST_NAME_WEIGHTS = dict.fromkeys(FIRST_NAMES, 1.0)
LAST_NAMES = [
    "Adams", "Bauer", "Bianchi", "Brown", "Costa", "Dubois", "Eriksson", "Fischer",
    "García", "Hansen", "Ito", "Jansen", "Kaur", "Khan", "Kowalski", "Larsen", "Lee",
    "Martin", "Meyer", "Moreau", "Müller", "Murphy", "Nguyen", "Novak", "O'Brien", "Patel",
    "Rossi", "Santos", "Schmidt", "Silva", "Smith", "Tanaka", "Taylor", "Walsh", "Wang",
    "Weber", "Williams", "Wilson", "Young", "Zhang",
]  # fmt: skip

COUNTRIES_A_ONLY = {
    "United States": 58, "Canada": 10, "United Kingdom": 7, "Mexico": 6, "Australia": 5,
    "Germany": 4, "India": 4, "Brazil": 3, "France": 3,
}  # fmt: skip
COUNTRIES_B_ONLY = {
    "Germany": 22, "United Kingdom": 18, "France": 15, "Netherlands": 9, "Spain": 8,
    "Italy": 8, "Ireland": 5, "Poland": 5, "Sweden": 5, "United States": 5,
}  # fmt: skip
COUNTRIES_SHARED = {
    "United States": 30, "United Kingdom": 18, "Germany": 14, "Canada": 8, "France": 8,
    "Ireland": 6, "Netherlands": 6, "Spain": 5, "Australia": 5,
}  # fmt: skip

PLANS = ("free", "plus", "pro")
TIERS = ("bronze", "silver", "gold")


# --- small deterministic helpers ----------------------------------------------------------
def pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> list[str]:
    """Weighted categorical draw from uniforms (stable across numpy versions)."""
    keys = list(weights)
    cdf = np.cumsum(np.array([weights[k] for k in keys], dtype=float))
    cdf /= cdf[-1]
    idx = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(keys) - 1)
    return [keys[i] for i in idx]


def bucket(scores: np.ndarray, cuts: tuple[float, float], labels: tuple[str, ...]) -> list[str]:
    return [labels[i] for i in np.searchsorted(np.array(cuts), scores, side="right")]


def iso(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def money(x: float) -> str:
    return f"{x:.2f}"


class InternalIds:
    """MoEngage-style internal ids: 24 hex digits, ObjectId-like (seconds, then random)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def new(self, ts: int) -> str:
        while True:
            hi, lo = (int(v) for v in self.rng.integers(0, 2**32, size=2))
            value = f"{int(ts) & 0xFFFFFFFF:08x}{hi:08x}{lo:08x}"
            if value not in self.seen:
                self.seen.add(value)
                return value


# --- the population -------------------------------------------------------------------------
def make_people(rng: np.random.Generator) -> list[dict]:
    """Identified people (each has a company-wide customer id) and where they appear."""
    groups = (
        ["shared"] * N_SHARED
        + ["near_miss"] * N_NEAR_MISS
        + ["a_only"] * N_A_ONLY
        + ["b_only"] * N_B_ONLY
        + ["b_whitespace_only"] * N_B_WHITESPACE_ONLY
    )
    n = len(groups)
    groups = [groups[i] for i in rng.permutation(n)]

    # Account creation times; customer ids grow with them (7 digits, with gaps).
    created = np.sort(rng.integers(WINDOW_START, EXPORTED_AT - 21 * DAY, size=n))
    ids = np.sort(1_000_000 + rng.permutation(420_000)[:n])

    firsts = pick(rng, FIRST_NAME_WEIGHTS, n)
    lasts = pick(rng, {name: 1.0 for name in LAST_NAMES}, n)
    suffix_roll = rng.random(n)
    suffix_num = rng.integers(1, 1000, size=n)
    latent = rng.standard_normal(n)  # propensity to spend; shared users sit higher

    by_group = {
        "shared": pick(rng, COUNTRIES_SHARED, n),
        "a_only": pick(rng, COUNTRIES_A_ONLY, n),
        "b_only": pick(rng, COUNTRIES_B_ONLY, n),
    }
    group_country_key = {
        "shared": "shared",
        "near_miss": "shared",
        "a_only": "a_only",
        "b_only": "b_only",
        "b_whitespace_only": "b_only",
    }

    emails: set[str] = set()
    people = []
    for i, group in enumerate(groups):
        base = f"{ascii_slug(firsts[i])}.{ascii_slug(lasts[i])}"
        number = int(suffix_num[i]) if suffix_roll[i] < 0.7 else 0
        while True:
            email = f"{base}{number or ''}@example.com"
            if email not in emails:
                emails.add(email)
                break
            number += 1
        shared = group in ("shared", "near_miss")
        people.append(
            {
                "uid": int(ids[i]),
                "group": group,
                "first": firsts[i],
                "email": email,
                "country": by_group[group_country_key[group]][i],
                "created": int(created[i]),
                "z": float(latent[i]) + (0.8 if shared else 0.0),
                "in_a": group in ("shared", "near_miss", "a_only"),
                "in_b": group != "a_only",
            }
        )
    return people


# --- app A ----------------------------------------------------------------------------------
def a_user_row(rng, mids: InternalIds, person: dict | None, id_text: str) -> list[str]:
    """One row of app A's export; ``person`` None means a user without a real customer id."""
    if person is None:  # anonymous or placeholder-id user: a recent visitor, mostly no purchase
        first_seen = int(EXPORTED_AT - rng.random() * 120 * DAY)
        last_seen = int(first_seen + rng.random() * (EXPORTED_AT - first_seen))
        country = pick(rng, COUNTRIES_A_ONLY, 1)[0]
        bought = rng.random() < 0.25
        orders = 1 + int(rng.random() < 0.2) if bought else 0
        ltv = float(np.exp(3.2 + 0.5 * rng.standard_normal())) * orders
        first = pick(rng, FIRST_NAME_WEIGHTS, 1)[0] if id_text else ""
        if id_text and rng.random() < 0.5:
            first = ""
        return [
            id_text,
            mids.new(first_seen),
            first,
            "",
            country,
            "free",
            money(ltv),
            str(orders),
            iso(first_seen),
            iso(last_seen),
            "true" if rng.random() < 0.35 else "false",
        ]

    z = person["z"]
    plan = bucket(np.array([z + 0.8 * rng.standard_normal()]), (0.5, 1.4), PLANS)[0]
    plan_bonus = {"free": 0.0, "plus": 0.35, "pro": 0.7}[plan]
    browsing_only = plan == "free" and rng.random() < 0.12
    if browsing_only:
        ltv, orders = 0.0, 0
    else:
        ltv = float(np.exp(3.6 + 0.55 * z + plan_bonus + 0.8 * rng.standard_normal()))
        order_value = float(np.exp(3.3 + 0.3 * rng.standard_normal()))
        orders = max(1, round(ltv / order_value))
    first_seen = min(int(person["created"] + rng.random() * 20 * DAY), EXPORTED_AT - 2 * DAY)
    last_seen = max(first_seen, int(EXPORTED_AT - (-np.log(1 - rng.random())) * 10 * DAY))
    opt_in = rng.random() < (0.62 if person["group"] != "a_only" else 0.5)
    return [
        id_text,
        mids.new(first_seen),
        person["first"],
        "" if rng.random() < 0.02 else person["email"],
        person["country"],
        plan,
        money(ltv),
        str(orders),
        iso(first_seen),
        iso(last_seen),
        "true" if opt_in else "false",
    ]


def build_a(rng, mids: InternalIds, people: list[dict]) -> list[list[str]]:
    rows = [a_user_row(rng, mids, p, str(p["uid"])) for p in people if p["in_a"]]
    identified = len(rows)
    rows += [a_user_row(rng, mids, None, "") for _ in range(N_A_ANONYMOUS)]
    for placeholder, count in A_PLACEHOLDERS.items():
        rows += [a_user_row(rng, mids, None, placeholder) for _ in range(count)]
    dup_sources = rng.permutation(identified)[:N_A_DUPLICATE_ROWS]
    rows += [list(rows[int(i)]) for i in dup_sources]
    return [rows[int(i)] for i in rng.permutation(len(rows))]


# --- app B ----------------------------------------------------------------------------------
def b_user_row(rng, mids: InternalIds, person: dict | None, id_text: str) -> list[str]:
    if person is None:  # anonymous or placeholder id: never joined the loyalty programme
        seen = int(EXPORTED_AT - rng.random() * 150 * DAY)
        first = ""
        if id_text and rng.random() < 0.5:
            first = pick(rng, FIRST_NAME_WEIGHTS, 1)[0]
        return [
            id_text,
            mids.new(seen - int(rng.random() * 30 * DAY)),
            first,
            "",
            pick(rng, COUNTRIES_B_ONLY, 1)[0],
            "bronze",
            "0",
            money(0.0),
            iso(seen),
        ]

    z = person["z"]
    tier = bucket(np.array([z + 0.8 * rng.standard_normal()]), (0.3, 1.2), TIERS)[0]
    mu, bonus = {"bronze": (5.0, 0.0), "silver": (6.6, 0.4), "gold": (7.8, 0.8)}[tier]
    points = 0 if rng.random() < 0.05 else int(np.exp(mu + 0.5 * rng.standard_normal()))
    ltv = float(np.exp(3.9 + 0.6 * z + bonus + 0.7 * rng.standard_normal()))
    joined = min(int(person["created"] + rng.random() * 45 * DAY), EXPORTED_AT - 2 * DAY)
    last_seen = max(joined, int(EXPORTED_AT - (-np.log(1 - rng.random())) * 25 * DAY))
    return [
        id_text,
        mids.new(joined),
        person["first"],
        "" if rng.random() < 0.02 else person["email"],
        person["country"],
        tier,
        str(points),
        money(ltv),
        iso(last_seen),
    ]


def stray_whitespace(rng, uid: int) -> str:
    style = int(rng.integers(0, 3))
    return (f" {uid}", f"{uid} ", f" {uid} ")[style]


def build_b(rng, mids: InternalIds, people: list[dict]) -> list[list[str]]:
    rows = []
    clean = []
    for person in people:
        if not person["in_b"]:
            continue
        if person["group"] in ("near_miss", "b_whitespace_only"):
            rows.append(b_user_row(rng, mids, person, stray_whitespace(rng, person["uid"])))
        else:
            clean.append(len(rows))
            rows.append(b_user_row(rng, mids, person, str(person["uid"])))
    rows += [b_user_row(rng, mids, None, "") for _ in range(N_B_ANONYMOUS)]
    for placeholder, count in B_PLACEHOLDERS.items():
        rows += [b_user_row(rng, mids, None, placeholder) for _ in range(count)]

    # Second profiles holding an ID already in use: an old install, never merged.
    for i in rng.permutation(len(clean))[:N_B_DUPLICATED_IDS]:
        original = rows[clean[int(i)]]
        seen = int(EXPORTED_AT - (200 + rng.random() * 300) * DAY)
        seen = max(seen, WINDOW_START + DAY)
        rows.append(
            [
                original[0],
                mids.new(seen - int(rng.random() * 20 * DAY)),
                original[2],
                original[3] if rng.random() < 0.5 else "",
                original[4],
                "bronze",
                str(int(rng.integers(0, 300))),
                money(float(np.exp(2.5 + 0.6 * rng.standard_normal()))),
                iso(seen),
            ]
        )
    return [rows[int(i)] for i in rng.permutation(len(rows))]


# --- counts for the README -----------------------------------------------------------------
def is_rejected(text: str) -> bool:
    return text.strip().lower() in PLACEHOLDER_IDS


def quirk_counts(a_rows: list[list[str]], b_rows: list[list[str]]) -> dict[str, int]:
    a_ids = [r[0] for r in a_rows]
    b_ids = [r[0] for r in b_rows]
    a_valid = {x for x in a_ids if not is_rejected(x)}
    b_valid = [x for x in b_ids if not is_rejected(x)]
    b_valid_counts = Counter(b_valid)
    a_row_counts = Counter(tuple(r) for r in a_rows)
    counts = {
        "a_rows": len(a_rows),
        "a_empty_id": sum(x == "" for x in a_ids),
        "a_placeholder_0": a_ids.count("0"),
        "a_placeholder_minus_1": a_ids.count("-1"),
        "a_exact_duplicate_rows": sum(c - 1 for c in a_row_counts.values()),
        "a_distinct_valid_ids": len(a_valid),
        "b_rows": len(b_rows),
        "b_empty_id": sum(x == "" for x in b_ids),
        "b_placeholder_guest": b_ids.count("guest"),
        "b_placeholder_unknown": b_ids.count("unknown"),
        "b_placeholder_null": b_ids.count("null"),
        "b_placeholder_n_a": b_ids.count("N/A"),
        "b_placeholder_none": b_ids.count("None"),
        "b_placeholder_empty_parens": b_ids.count("(empty)"),
        "b_id_nan_in_pandas": sum(x in PANDAS_DEFAULT_NA for x in b_ids),
        "b_whitespace_ids": sum(x != x.strip() for x in b_valid),
        "b_near_misses": sum(x not in a_valid and x.strip() in a_valid for x in b_valid),
        "b_duplicated_ids": sum(c > 1 for c in b_valid_counts.values()),
        "b_duplicate_extra_rows": sum(c - 1 for c in b_valid_counts.values()),
        "b_distinct_valid_ids": len(b_valid_counts),
        "overlap_exact": len(a_valid & set(b_valid_counts)),
    }
    return counts


QUIRK_ROWS = [
    ("a_rows", A_FILE, "data rows (header excluded)"),
    ("a_empty_id", A_FILE, "anonymous users: empty `ID`, `MoEngage User ID` only"),
    ("a_placeholder_0", A_FILE, "`ID` is the placeholder `0` (MoEngage never accepts it)"),
    ("a_placeholder_minus_1", A_FILE, "`ID` is the placeholder `-1` (MoEngage never accepts it)"),
    ("a_exact_duplicate_rows", A_FILE, "rows that exactly repeat an earlier row (same user twice)"),
    ("a_distinct_valid_ids", A_FILE, "distinct usable IDs (not empty, not a placeholder)"),
    ("b_rows", B_FILE, "data rows (header excluded)"),
    ("b_empty_id", B_FILE, "anonymous users: empty `ID`"),
    ("b_placeholder_guest", B_FILE, "`ID` is `guest`"),
    ("b_placeholder_unknown", B_FILE, "`ID` is `unknown`"),
    ("b_placeholder_null", B_FILE, "`ID` is `null` (pandas reads NaN)"),
    ("b_placeholder_n_a", B_FILE, "`ID` is `N/A` (pandas reads NaN)"),
    ("b_placeholder_none", B_FILE, "`ID` is `None` (pandas reads NaN)"),
    ("b_placeholder_empty_parens", B_FILE, "`ID` is `(empty)`"),
    ("b_id_nan_in_pandas", B_FILE, "`ID` is NaN after `pd.read_csv` (empty, null, N/A, None)"),
    ("b_whitespace_ids", B_FILE, "real IDs with stray spaces (`\" 1004821\"`, `\"1004821 \"`)"),
    ("b_near_misses", B_FILE, "of those, IDs that equal an ID of app A only after trimming"),
    ("b_duplicated_ids", B_FILE, "usable IDs held by more than one row (a second, stale profile)"),
    ("b_duplicate_extra_rows", B_FILE, "rows beyond the first for those IDs"),
    ("b_distinct_valid_ids", B_FILE, "distinct usable IDs, taken as written (whitespace kept)"),
    ("overlap_exact", "both", "usable IDs present in both files, compared exactly"),
]  # fmt: skip


def share(rows: list[list[str]], col: int, values: tuple[str, ...]) -> float:
    return 100.0 * sum(r[col] in values for r in rows) / max(1, len(rows))


def median(rows: list[list[str]], col: int) -> float:
    return float(np.median(np.array([float(r[col]) for r in rows]))) if rows else 0.0


def render_readme(counts: dict[str, int], a_rows, b_rows) -> str:
    def n(key: str) -> str:
        return f"{counts[key]:,}"

    a_valid = {r[0] for r in a_rows if not is_rejected(r[0])}
    b_valid = {r[0] for r in b_rows if not is_rejected(r[0])}
    both = a_valid & b_valid
    a_unique = list(dict.fromkeys(tuple(r) for r in a_rows))  # exact duplicates once
    a_shared = [r for r in a_unique if r[0] in both]
    a_alone = [r for r in a_unique if r[0] in a_valid and r[0] not in both]
    b_shared = [r for r in b_rows if r[0] in both]
    b_alone = [r for r in b_rows if r[0] in b_valid and r[0] not in both]

    quirk_table = "\n".join(
        f"| `{key}` | {'both files' if file == 'both' else f'`{file}`'} | {text} | {n(key)} |"
        for key, file, text in QUIRK_ROWS
    )
    paid = ("plus", "pro")
    shape_table = "\n".join(
        [
            f"| A: paid plan (`plus`/`pro`) | {share(a_shared, 5, paid):.1f} % "
            f"| {share(a_alone, 5, paid):.1f} % |",
            f"| A: median `Lifetime Value` (USD) | {median(a_shared, 6):.2f} "
            f"| {median(a_alone, 6):.2f} |",
            f"| B: `gold` tier | {share(b_shared, 5, ('gold',)):.1f} % "
            f"| {share(b_alone, 5, ('gold',)):.1f} % |",
            f"| B: median `Lifetime Value` (EUR) | {median(b_shared, 7):.2f} "
            f"| {median(b_alone, 7):.2f} |",
        ]
    )
    a_countries = Counter(r[4] for r in a_rows).most_common(4)
    b_countries = Counter(r[4] for r in b_rows).most_common(4)
    return f"""# Sample exports: two MoEngage apps

Written by `scripts/generate_samples.py`; do not edit by hand. All names and email addresses
are fake (every address is at `example.com`), every ID and `MoEngage User ID` is random.

A company runs two MoEngage apps (workspaces). Users of both apps share the same unique ID
(`uid`, `customer_id` in the Data API, shown as `ID` in dashboard exports).

| File | App | What it is |
|---|---|---|
| `{A_FILE}` | A, "ShopNow" (data center 01, US) | {A_WHAT} |
| `{B_FILE}` | B, "ShopNow Plus" (data center 02, EU; loyalty/subscription) | {B_WHAT} |

Exported {iso(EXPORTED_AT)}; every timestamp lies in 2025-2026 (UTC, ISO 8601 with `Z`).
CSV: UTF-8 (some names have accents), comma-separated, `\\n` line endings, header row first.

## `{A_FILE}` ({n("a_rows")} rows)

| Column | Content |
|---|---|
| `ID` | customer id, 7 digits (`1004821`); empty for anonymous users; a few placeholders |
| `MoEngage User ID` | MoEngage's internal id, 24 hex digits, on every row (anonymous ones too) |
| `First Name` | fake first name; empty for anonymous users |
| `Email` | fake, `@example.com`; empty for anonymous users and a few others |
| `Country` | country name |
| `Plan` | `free`, `plus` or `pro` |
| `Lifetime Value` | USD, 2 decimals, right-skewed; `0.00` for users who never bought |
| `Orders` | integer |
| `First Seen`, `Last Seen` | ISO timestamps, `Last Seen` >= `First Seen` |
| `Push Opt-in` | `true` / `false` (pandas reads a bool column) |

`pd.read_csv` reads `ID` as **float64** (`1004821.0`): the empty IDs are NaN, and the
placeholders are numbers (`0.0`, `-1.0`). Render a value as an integer to get the ID back.

## `{B_FILE}` ({n("b_rows")} rows)

| Column | Content |
|---|---|
| `ID` | customer id as text; empty for anonymous users; placeholders; some stray spaces |
| `MoEngage User ID` | app B's own internal id (24 hex digits), not app A's for the same user |
| `First Name`, `Email`, `Country` | the same person's values as in app A (a few emails are empty) |
| `Membership Tier` | `bronze`, `silver` or `gold` |
| `Points Balance` | integer |
| `Lifetime Value` | EUR, 2 decimals, right-skewed |
| `Last Seen` | ISO timestamp |

`pd.read_csv` reads `ID` as **text** (object dtype in pandas 2, `str` in pandas 3) because
of the placeholders. By default it turns the empty cells and `null`, `N/A`, `None` into NaN;
`guest`, `unknown` and `(empty)` stay text. Stray spaces are kept (`" 1004821"`). Read with
`dtype=str, keep_default_na=False` to see every value as written.

## Deliberate quirks (exact counts)

"Usable" means: not empty and not one of the IDs MoEngage never accepts (FACTS.md,
"Identifiers"; compared trimmed, case-insensitively). App A's IDs are compared as integers
rendered as text, app B's as written.

| Key | File | Quirk | Count |
|---|---|---|---:|
{quirk_table}

The exact overlap is what Cohort Sync can match: MoEngage compares IDs exactly, so the
{n("b_near_misses")} near misses (the same customer, an ID with stray spaces in app B) are lost
unless IDs are trimmed first. Anonymous and placeholder users can never be synced.

## Shape of the data

Shared users (the exact overlap) are the better customers (rows with a usable ID):

| | rows of shared users | other rows |
|---|---:|---:|
{shape_table}

Most common countries: app A {", ".join(f"{c} ({k:,})" for c, k in a_countries)};
app B {", ".join(f"{c} ({k:,})" for c, k in b_countries)}.

## Regenerate

```
.venv/bin/python scripts/generate_samples.py            # writes data/samples/
.venv/bin/python scripts/generate_samples.py --out DIR  # anywhere else
```

Deterministic (numpy `default_rng({SEED})`): two runs give byte-identical files, which
`tests/test_samples.py` checks along with every count above.
"""


# --- entry point ------------------------------------------------------------------------------
def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate(out: Path) -> dict[str, int]:
    """Write both CSV files and the README to ``out``; return the quirk counts."""
    rng = np.random.default_rng(SEED)
    mids = InternalIds(rng)
    people = make_people(rng)
    a_rows = build_a(rng, mids, people)
    b_rows = build_b(rng, mids, people)
    counts = quirk_counts(a_rows, b_rows)

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / A_FILE, A_COLUMNS, a_rows)
    write_csv(out / B_FILE, B_COLUMNS, b_rows)
    (out / README).write_text(render_readme(counts, a_rows, b_rows), encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    counts = generate(args.out)
    width = max(map(len, counts))
    for key, value in counts.items():
        print(f"{key:<{width}}  {value:>6,}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
