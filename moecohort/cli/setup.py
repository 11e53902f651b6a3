"""The commands that set moecohort up: ``profiles``, ``emulator``, ``demo`` and ``notebooks``."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
@click.option("--workspace-id", help="Destination Workspace ID (App ID); asked for when missing.")
@click.option(
    "--data-center",
    default="01",
    show_default=True,
    callback=lambda ctx, param, value: data_center_option(value),
    help="Data center: " + ", ".join(f"{k} {v}" for k, v in DATA_CENTERS.items()) + ".",
)
@click.option("--base-url", help="Override the API host (an emulator or a proxy).")
@click.option(
    "--keyring/--no-keyring",
    "use_keyring",
    default=None,
    help="Store the key in the system keyring (default: when available).",
)
@click.option(
    "--key-stdin",
    is_flag=True,
    help="Read the Data API key from the first line of stdin (piped, never echoed).",
)
@click.option(
    "--key-env", metavar="VAR", help="Read the Data API key from environment variable VAR."
)
@friendly
def profiles_add(
    name: str,
    workspace_id: str | None,
    data_center: str,
    base_url: str | None,
    use_keyring: bool | None,
    key_stdin: bool,
    key_env: str | None,
) -> None:
    """Save credentials as profile NAME.

    The Data API key is asked for without echo on a terminal; in a script, pipe it
    with --key-stdin or name the variable holding it with --key-env VAR.
    """
    if key_stdin and key_env:
        raise click.UsageError("give the key with --key-stdin or --key-env, not both")
    if workspace_id is None:
        if not stdin_is_terminal():
            raise click.UsageError("pass --workspace-id (no terminal to ask for it on)")
        workspace_id = str(click.prompt("Workspace ID"))
    key = data_api_key(key_stdin, key_env)
    creds = AppCredentials(workspace_id, key, data_center, base_url=base_url, name=name)
    del key  # from here on only the SecretStr in creds holds it
    store = ProfileStore()
    store.save(creds, name, use_keyring=use_keyring)
    info = store.info(name)
    assert info is not None  # just saved
    click.echo(
        f"saved profile {name!r}: workspace {info.workspace_id}, data center "
        f"{info.data_center}, key {info.masked_key} in the {info.key_storage}"
    )


def stdin_is_terminal() -> bool:
    """True when stdin is a terminal, where the key can be asked for without echo."""
    stdin = sys.stdin
    return stdin is not None and stdin.isatty()


def data_api_key(key_stdin: bool, key_env: str | None) -> str:
    """The key from --key-env VAR, from stdin's first line (--key-stdin), or asked for
    without echo on a terminal. It is never echoed, in output or in an error."""
    if key_env is not None:
        value = os.environ.get(key_env, "")
        if not value.strip():
            raise click.UsageError(f"--key-env: the environment variable {key_env} is not set")
        return value
    if stdin_is_terminal():  # typed: hidden, even with --key-stdin
        return str(click.prompt("Data API key", hide_input=True))
    if key_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line.strip():
            raise click.UsageError("--key-stdin: stdin is empty (pipe the key, one line)")
        return line
    raise click.UsageError(
        "no terminal to ask for the Data API key on: pipe it with --key-stdin "
        "(printf '%s\\n' \"$KEY\" | moecohort profiles add NAME --workspace-id ID --key-stdin) "
        "or pass --key-env VAR to read it from the environment variable VAR"
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
def _probability(name: str) -> Callable[[Any], Any]:
    return click.option(
        name,
        type=click.FloatRange(0, 1),
        default=0.0,
        metavar="P",
        help=_FAULT_HELP[name] + " (probability 0 to 1).",
    )


_FAULT_HELP = {
    "--error-500": "Answer 500 Server Error, applying nothing",
    "--rate-429": "Answer 429 Rate Limits Exceeded, applying nothing",
    "--drop-before": "Close the connection without an answer, applying nothing",
    "--drop-after": "Apply the request, then close the connection without an answer",
}


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=8787, show_default=True, help="0: a free port.")
@click.option("--db", type=click.Path(dir_okay=False), help="Keep state in this SQLite file.")
@click.option("--samples", is_flag=True, help="Register the two sample apps from data/samples.")
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Delay every Cohort Sync request by SECONDS...",
)
@click.option(
    "--jitter",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="... plus a random 0 to SECONDS.",
)
@_probability("--error-500")
@_probability("--rate-429")
@_probability("--drop-before")
@_probability("--drop-after")
@click.option(
    "--retry-after",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Send Retry-After: SECONDS with every 429 and injected 500.",
)
@click.option("--seed", type=int, help="Seed for fault injection (the same faults every run).")
@click.option("--quiet", "-q", is_flag=True, help="No line per request.")
@friendly
def emulator(
    host: str,
    port: int,
    db: str | None,
    samples: bool,
    latency: float,
    jitter: float,
    error_500: float,
    rate_429: float,
    drop_before: float,
    drop_after: float,
    retry_after: float | None,
    seed: int | None,
    quiet: bool,
) -> None:
    """Run the local Cohort Sync emulator until Ctrl-C.

    Rehearse a slow or failing API with --latency/--jitter and the fault rates
    (drawn for every Cohort Sync request, repeatably with --seed).
    """
    from ..emulator import Faults, serve
    from ..samples import samples_dir

    faults = Faults(
        error_500=error_500,
        rate_429=rate_429,
        retry_after=retry_after,
        drop_before=drop_before,
        drop_after=drop_after,
        latency_s=latency,
        latency_jitter_s=jitter,
    )
    if faults.active:
        shown = ", ".join(f"{k}={v}" for k, v in faults.to_dict().items() if v)
        click.echo(f"faults: {shown}" + (f" (seed {seed})" if seed is not None else ""), err=True)
    try:
        serve(
            host,
            port,
            db=db,
            samples_dir=samples_dir() if samples else None,
            seed=seed,
            quiet=quiet,
            faults=faults if faults.active else None,
        )
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)):
            raise click.ClickException(
                f"port {port} is in use: pass --port 0 for a free port, or another port"
            ) from None
        if exc.errno == errno.EACCES:
            raise click.ClickException(
                f"port {port} needs administrator rights: pass --port 0 for a free port, "
                "or one above 1023"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise click.ClickException(
                f"cannot listen on {host}: not an address of this machine"
            ) from None
        raise


@cli.command()
@progress_option
@friendly
def demo(progress: ProgressOption) -> None:
    """Run the whole job against the local emulator with the sample apps."""
    from ..demo import run_demo

    code = run_demo(click.echo, progress=progress)
    sys.exit(code)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite notebooks that are already there.")
@friendly
def notebooks(directory: str, force: bool) -> None:
    """Copy the worked notebooks into DIRECTORY (created if needed).

    Then open them with `jupyter lab DIRECTORY` (pip install 'moecohort[notebook]').
    """
    from ..demo import notebooks_dir

    source = notebooks_dir()
    if source is None:
        raise click.ClickException("this copy of moecohort holds no notebooks")
    files = sorted(source.glob("*.ipynb"))
    target = Path(directory)
    there = [target / f.name for f in files if (target / f.name).exists()]
    if there and not force:
        more = f" (and {len(there) - 1} more)" if len(there) > 1 else ""
        raise click.ClickException(f"{there[0]} exists{more}: pass --force to overwrite")
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copyfile(file, target / file.name)
    click.echo(f"copied {len(files)} notebooks to {target}: open them with `jupyter lab {target}`")
