"""JupyterLab in a real browser: notebook 01's credential picker, typed into by a person.

Starts JupyterLab on 127.0.0.1 (random port, a token, a temporary root holding a copy of
notebook 01) and drives Debian's headless Chromium with Playwright: run the notebook down
to the picker, type a workspace ID, base URL and Data API key of an emulator this test
starts, press "Test connection", and expect the success message. Then save the notebook
with widget state (JupyterLab's "Save Widget State Automatically" turned on) and check
that the key is nowhere in the file. Screenshots go to ``artifacts/``.

Run with ``make browser-test`` (installs chromium with apt-get when missing). Loopback
only: every request of the browser to another host is aborted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat
import pytest

from moecohort.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_sync_segment_between_apps.ipynb"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("ARTIFACTS", ROOT / "artifacts"))
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORKSPACE = "BROWSER-WS"
COHORT = "High intent shoppers from ShopNow"
KEY = "browser-key-" + secrets.token_hex(8)
STEP_MS = 60_000  # the longest any one step may take


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def stop_process_group(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """End the server this test started, and its kernels (same process group)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def shared_users(n: int = 3) -> list[str]:
    """A few users of both sample apps: what the notebook pushes and this app knows."""
    import moecohort as mc
    from moecohort.samples import load_samples

    source, destination = load_samples()
    return list(mc.overlap(source, destination, on="ID").in_both[:n])


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=0) as emu:
        emu.add_workspace(WORKSPACE, KEY, users=[*shared_users(), "not-in-the-segment"])
        yield emu


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    home = tmp_path / "home"
    settings = home / "lab-settings"
    # Save widget state with the notebook, as a person may have set it; no news toasts.
    write_json(
        settings / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.jupyterlab-settings",
        {"saveState": True},
    )
    write_json(
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False},
    )
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "MOECOHORT_CONFIG_DIR": str(home / "moecohort"),  # no profiles: the sandbox path
        "MOECOHORT_NO_KEYRING": "1",
    }
    env.pop("MPLBACKEND", None)
    token = secrets.token_hex(24)
    log = tmp_path / "jupyterlab.log"
    for _attempt in range(3):  # a free port can be taken before the server binds it
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--ServerApp.allow_root=True")  # CI runs as root
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = Lab(f"http://127.0.0.1:{port}", token, root, log)
        try:
            if wait_until_up(proc, server, deadline_s=90):
                yield server
                return
        finally:
            stop_process_group(proc)
        if "already in use" not in server.log_tail():
            break
    pytest.fail(f"JupyterLab did not start:\n{server.log_tail()}")


def wait_until_up(proc: subprocess.Popen[bytes], server: Lab, deadline_s: float) -> bool:
    """True once the server answers; False if it exits or takes longer than the deadline."""
    deadline = time.monotonic() + deadline_s
    request = urllib.request.Request(
        f"{server.url}/api/status", headers={"Authorization": f"token {server.token}"}
    )
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def loopback_only(route: Any) -> None:
    host = urlsplit(route.request.url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1") or route.request.url.startswith("data:"):
        route.continue_()
    else:
        route.abort()


def snap(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def wait_for_kernel_idle(page: Any) -> None:
    """The kernel is up and idle: the status bar says so."""
    page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle").first.wait_for()


def run_cells(page: Any, first: int, count: int) -> None:
    """Select cell ``first`` and press Shift+Enter ``count`` times, as a person would."""
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(first)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")  # command mode
    for _ in range(count):
        page.keyboard.press("Shift+Enter")
        page.wait_for_timeout(100)


def replace_text(field: Any, text: str) -> None:
    field.click()
    field.fill("")
    field.press_sequentially(text, delay=5)
    field.press("Tab")


def save_notebook(page: Any, path: Path) -> str:
    """Save with the toolbar button; return the file once it holds the widget state."""
    page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8")
        if '"widgets"' in text and "PasswordModel" in text:
            return text
        page.wait_for_timeout(250)
    pytest.fail("the saved notebook holds no widget state (is saveState on?)")


def test_credentials_picker_in_jupyterlab(lab: Lab, emulator: Emulator) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/install-chromium.sh"
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    panel_cell = next(i for i, c in enumerate(cells) if c.source.startswith("COHORT = "))
    picker_cell = next(
        i for i, c in enumerate(cells) if "AppPairPicker(" in c.source and "apps" in c.source
    )
    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=BROWSER_ARGS,
            headless=True,
            chromium_sandbox=False,
            timeout=STEP_MS,
        )
        context = browser.new_context(
            viewport={"width": 1500, "height": 1100},
            service_workers="block",
            accept_downloads=False,
        )
        context.route("**/*", loopback_only)
        page = context.new_page()
        page.set_default_timeout(STEP_MS)
        expect.set_options(timeout=STEP_MS)
        try:
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK.name}?reset&token={lab.token}")
            wait_for_kernel_idle(page)
            run_cells(page, 0, picker_cell + 1)
            destination = page.locator(".moecohort-picker-destination")
            expect(destination.locator(".moecohort-test")).to_be_visible()
            wait_for_kernel_idle(page)
            snap(page, "jupyterlab-01-picker.png")

            # A person types another app's credentials into the destination picker.
            base_url = destination.locator(".moecohort-base-url input")
            if not base_url.is_visible():
                destination.get_by_text("Advanced").click()
            replace_text(destination.locator(".moecohort-workspace-id input"), WORKSPACE)
            replace_text(base_url, emulator.url)
            key_input = destination.locator(".moecohort-key input")
            expect(key_input).to_have_attribute("type", "password")
            key_input.click()
            key_input.press_sequentially(KEY, delay=5)
            destination.locator(".moecohort-test").click()

            status = destination.locator(".moecohort-status")
            expect(status).to_contain_text(
                f"Connected: credentials accepted by {emulator.url} (workspace {WORKSPACE})"
            )
            # The key left the field at once; only its masked form is shown.
            expect(key_input).to_have_value("")
            expect(destination.locator(".moecohort-key-display")).to_contain_text("****" + KEY[-4:])
            assert len(emulator.request_log(WORKSPACE)) == 1
            snap(page, "jupyterlab-02-test-connection.png")
            destination.screenshot(path=str(ARTIFACTS / "jupyterlab-03-picker-connected.png"))

            # Saved with widget state, the notebook holds no key.
            saved = save_notebook(page, lab.root / NOTEBOOK.name)
            assert KEY not in saved, "the key is in the saved notebook"
            models = json.loads(saved)["metadata"]["widgets"][
                "application/vnd.jupyter.widget-state+json"
            ]["state"]
            passwords = [m["state"] for m in models.values() if m["model_name"] == "PasswordModel"]
            assert len(passwords) == 2 and all(p.get("value", "") == "" for p in passwords)

            # On down to the push panel; "Dry run", then "Push" (a background thread in
            # the kernel updates the panel) to the app typed in above.
            run_cells(page, picker_cell + 1, panel_cell - picker_cell)
            panel = page.locator(".moecohort-push-panel")
            expect(panel.locator(".moecohort-push-header")).to_contain_text("2,400 users")
            wait_for_kernel_idle(page)
            panel.locator(".moecohort-dry-run").click()
            output = panel.locator(".moecohort-push-output")
            expect(output).to_contain_text("Request plan (1 request body, nothing sent)")
            panel.locator(".moecohort-push").click()
            expect(output).to_contain_text(
                f"2,400 users accepted by the API (add) for cohort {COHORT!r}"
            )
            expect(panel.locator(".moecohort-progress")).to_be_visible()
            assert emulator.cohort_members(WORKSPACE, COHORT) == set(shared_users())
            panel.screenshot(path=str(ARTIFACTS / "jupyterlab-04-push-panel.png"))
        except Exception:
            snap(page, "jupyterlab-failure.png")
            print(f"JupyterLab log:\n{lab.log_tail()}")
            raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - started:.1f} s in Chromium")
