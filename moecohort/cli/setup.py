"""The commands that set moecohort up: ``profiles``, ``emulator`` and ``demo``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from .._constants import DATA_CENTERS
from ..credentials import AppCredentials, ProfileStore

if TYPE_CHECKING:  # pragma: no cover
    from ..delivery import ProgressOption

from .base import cli, data_center_option, friendly, progress_option


# --------------------------------------------------------------------------- profiles
@cli.group()
def profiles() -> None:
    """Saved credentials (a 0600 TOML file in your config folder; keys in the system
    keyring when one is available)."""


@profiles.command("add")
@click.argument("name")
@click.option("--workspace-id", prompt="Workspace ID", help="Destination Workspace ID (App ID).")
@click.option(
    "--data-center",
    default="01",
    show_default=True,
    callback=lambda ctx, param, value: data_center_option(value),
    prompt="Data center (" + ", ".join(f"{k} {v}" for k, v in DATA_CENTERS.items()) + ")",
)
@click.option("--base-url", help="Override the API host (an emulator or a proxy).")
@click.option(
    "--keyring/--no-keyring",
    "use_keyring",
    default=None,
    help="Store the key in the system keyring (default: when available).",
)
@friendly
def profiles_add(
    name: str, workspace_id: str, data_center: str, base_url: str | None, use_keyring: bool | None
) -> None:
    """Save credentials as profile NAME. The Data API key is asked for without echo."""
    key = click.prompt("Data API key", hide_input=True)
    creds = AppCredentials(workspace_id, key, data_center, base_url=base_url, name=name)
    store = ProfileStore()
    store.save(creds, name, use_keyring=use_keyring)
    info = store.info(name)
    assert info is not None  # just saved
    click.echo(
        f"saved profile {name!r}: workspace {info.workspace_id}, data center "
        f"{info.data_center}, key {info.masked_key} in the {info.key_storage}"
    )


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True)
@friendly
def profiles_list(as_json: bool) -> None:
    """List saved profiles (keys masked)."""
    store = ProfileStore()
    infos = store.list()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo(f"no profiles yet ({store.path}); add one with `moecohort profiles add NAME`")
        return
    import pandas as pd

    frame = pd.DataFrame([i.to_dict() for i in infos]).set_index("name")
    click.echo(frame.to_string())


@profiles.command("remove")
@click.argument("name")
@friendly
def profiles_remove(name: str) -> None:
    """Delete profile NAME (and its keyring entry)."""
    ProfileStore().remove(name)
    click.echo(f"removed profile {name!r}")


# --------------------------------------------------------------------------- emulator and demo
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=8787, show_default=True)
@click.option("--db", type=click.Path(dir_okay=False), help="Keep state in this SQLite file.")
@click.option("--samples", is_flag=True, help="Register the two sample apps from data/samples.")
@click.option("--seed", type=int, help="Seed for fault injection.")
@click.option("--quiet", "-q", is_flag=True, help="No line per request.")
@friendly
def emulator(
    host: str, port: int, db: str | None, samples: bool, seed: int | None, quiet: bool
) -> None:
    """Run the local Cohort Sync emulator until Ctrl-C."""
    from ..emulator import serve
    from ..samples import samples_dir

    serve(host, port, db=db, samples_dir=samples_dir() if samples else None, seed=seed, quiet=quiet)


@cli.command()
@progress_option
@friendly
def demo(progress: ProgressOption) -> None:
    """Run the whole job against the local emulator with the sample apps."""
    from ..demo import run_demo

    code = run_demo(click.echo, progress=progress)
    sys.exit(code)
