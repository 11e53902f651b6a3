"""``moecohort demo``: the whole job against the local emulator, with no credentials.

It starts the emulator with the two sample apps, shows the overlap, drops
anonymous users, keeps the users that exist in the destination, pushes them as
a cohort, and reads the cohort back to show it holds exactly those users.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._constants import LOOKUPS_PER_MINUTE
from .credentials import AppCredentials
from .delivery import ProgressOption
from .ids import drop_anonymous
from .matching import keep_in_destination, overlap
from .push import check_connection, push_cohort
from .samples import DESTINATION_FILE, SOURCE_FILE, load_samples, samples_dir

__all__ = ["DEMO_COHORT", "Sandbox", "next_step", "notebooks_dir", "run_demo", "sandbox"]

DEMO_COHORT = "High intent shoppers from ShopNow"


@dataclass
class Sandbox:
    """A running emulator holding the two sample apps, and credentials for both."""

    emulator: Any
    source: AppCredentials
    destination: AppCredentials

    @property
    def url(self) -> str:
        return str(self.emulator.url)

    def stop(self) -> None:
        self.emulator.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"Sandbox(emulator at {self.url}: source {self.source.workspace_id}, "
            f"destination {self.destination.workspace_id})"
        )


def sandbox(
    *, seed: int | None = 0, lookups_per_minute: int | None = LOOKUPS_PER_MINUTE
) -> Sandbox:
    """Start the emulator with the sample apps (``DEMO-SOURCE``, ``DEMO-DEST``) and return
    their credentials: what notebooks use when no real credentials are configured.

    ``lookups_per_minute``: the sample apps' Get User API limit in users a minute
    (MoEngage's 1,000 by default; None: any pace, so that a notebook's lookups of the
    samples take seconds when asked with a higher ``users_per_minute``).

    >>> with sandbox() as box:  # doctest: +SKIP
    ...     push_cohort(df, box.destination, "My cohort")
    """
    from .emulator import Emulator
    from .emulator import load_samples as register_samples

    emu = Emulator(seed=seed).start()
    apps = register_samples(emu, samples_dir(), lookups_per_minute=lookups_per_minute)
    creds = {
        side: AppCredentials(
            info["workspace_id"], info["api_key"], base_url=emu.url, name=f"sample {side}"
        )
        for side, info in apps.items()
    }
    return Sandbox(emu, creds["source"], creds["destination"])


def run_demo(echo: Callable[[str], None] = print, *, progress: ProgressOption = "auto") -> int:
    """Run the demo, telling the story through ``echo``. Returns 0 when the cohort in
    the destination holds exactly the expected users, else 1."""

    def step(n: int, title: str) -> None:
        echo(f"\n[{n}/6] {title}")

    def say(text: str) -> None:
        echo(textwrap.indent(text, "      "))

    with sandbox() as box:
        emu, dest = box.emulator, box.destination
        step(1, "Two MoEngage apps, played by the local emulator (no credentials, no internet)")
        counts = {w["workspace_id"]: w["users"] for w in emu.workspaces()}
        say(
            f"emulator at {emu.url}\n"
            f"source app      {box.source.workspace_id}: "
            f"{counts[box.source.workspace_id]:,} known users\n"
            f"destination app {dest.workspace_id}: {counts[dest.workspace_id]:,} known users\n"
            f"credentials check: {check_connection(dest)}"
        )

        step(2, "Load the exports")
        source_df, dest_df = load_samples()
        say(
            f"{SOURCE_FILE}: {len(source_df):,} rows (the source segment export)\n"
            f"{DESTINATION_FILE}: {len(dest_df):,} rows (the destination's users)"
        )

        step(3, "Identifier overlap between the apps (column 'ID', exact match)")
        report = overlap(source_df, dest_df, on="ID", labels=("app A", "app B"))
        say(report.summary().to_string())
        if len(report.near_misses):
            say(
                f"{len(report.near_misses)} near misses (match only after trimming or case "
                "folding; reported, not merged), e.g. "
                + ", ".join(
                    f"{a!r} vs {b!r}"
                    for a, b in report.near_misses[["source_id", "destination_id"]]
                    .head(3)
                    .itertuples(index=False)
                )
            )

        step(4, "Drop anonymous users, keep users that exist in the destination")
        clean, anon = drop_anonymous(source_df, "ID", report=True)
        say(str(anon))
        to_push = keep_in_destination(clean, dest_df, "ID")
        say(
            f"{len(to_push):,} rows of users known to app B "
            f"({len(clean) - len(to_push):,} rows of users app B does not have are left out)"
        )

        step(5, f"Push them as the cohort {DEMO_COHORT!r}")
        result = push_cohort(to_push, dest, DEMO_COHORT, id_col="ID", progress=progress)
        say(repr(result))

        step(6, "Read the cohort back from the destination")
        members = emu.cohort_members(dest.workspace_id, DEMO_COHORT)
        expected = set(report.in_both)
        if members == expected and result.ok:
            say(
                f"the cohort holds exactly the {len(members):,} users in both apps. "
                "Done: this is what Outbound Segment Sync would have built."
            )
            echo(next_step())
            return 0
        say(
            f"MISMATCH: cohort has {len(members):,} members, expected {len(expected):,} "
            f"(missing {len(expected - members):,}, unexpected {len(members - expected):,})"
        )
        return 1


def notebooks_dir(package: Path | None = None) -> Path | None:
    """Where the worked notebooks are: ``moecohort/_notebooks`` in an installed wheel, or
    ``notebooks/`` of a source checkout (as :func:`~moecohort.samples.samples_dir` finds
    the samples); None when neither holds any. ``package``: the ``moecohort`` folder."""
    here = package or Path(__file__).resolve().parent
    for candidate in (here / "_notebooks", here.parent / "notebooks"):
        if candidate.is_dir() and any(candidate.glob("*.ipynb")):
            return candidate
    return None


def next_step(package: Path | None = None) -> str:
    """The demo's last line: how to open the notebooks from where they are."""
    folder = notebooks_dir(package)
    if folder is None or folder.name == "_notebooks":  # installed: copy them out first
        command = "moecohort notebooks ./notebooks && jupyter lab notebooks/"
    else:
        try:
            relative = os.path.relpath(folder)
        except ValueError:  # another drive (Windows)
            relative = ".."
        shown = folder if relative.startswith("..") else relative
        command = f"jupyter lab {shown}{os.sep}"
    return f"\nNext: `{command}` for the notebook version, or `moecohort --help` for the commands."
