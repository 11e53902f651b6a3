"""The notebooks in notebooks/: clean when committed, and they run top to bottom.

Executing tests are marked ``notebook`` (a fresh Jupyter kernel each; ``make test`` runs
them, the pandas-2.2 run leaves them out). Each kernel gets an empty profile folder, so
the notebooks take their "no credentials configured" path: the local emulator.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import secrets
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_notebooks", ROOT / "scripts" / "check_notebooks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = load_checker()


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment of the kernels started by the test: no profiles, no keyring, no user
    Jupyter or IPython configuration (the kernel is this interpreter's ipykernel)."""
    for name, folder in {
        "MOECOHORT_CONFIG_DIR": "moecohort-config",
        "JUPYTER_CONFIG_DIR": "jupyter-config",
        "JUPYTER_DATA_DIR": "jupyter-data",
        "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
        "IPYTHONDIR": "ipython",
    }.items():
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(name, str(tmp_path / folder))
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    return tmp_path


def execute(nb: Any) -> Any:
    client = NotebookClient(
        nb,
        timeout=120,
        startup_timeout=60,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()
    return nb


def text_of(nb: Any) -> str:
    """Every stream and text/plain output of an executed notebook."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "text/plain" in output.get("data", {}):
                parts.append(output.data["text/plain"])
    return "\n".join(parts)


# --------------------------------------------------------------------------- committed clean
def test_the_two_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_sync_segment_between_apps.ipynb",
        "02_cross_app_analysis.ipynb",
    ]


def test_committed_notebooks_are_clean() -> None:
    assert check.check_paths(NOTEBOOKS) == []
    assert check.main([]) == 0


def test_check_rejects_outputs_widget_state_and_keys(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    nb.cells[1].execution_count = 3
    nb.metadata["widgets"] = {WIDGET_STATE_MIME: {"state": {}}}
    nb.cells.append(nbformat.v4.new_code_cell('key = "live-key-0123456789"'))
    nb.cells.append(nbformat.v4.new_code_cell('app = AppCredentials("WS", "abcdefgh1234")'))
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, dirty)

    found = check.check_paths([dirty])
    assert any("cell 2 has outputs" in line for line in found)
    assert any("cell 2 has an execution count" in line for line in found)
    assert any("widget state" in line for line in found)
    assert sum("looks like a key" in line for line in found) == 2
    assert check.main([str(dirty)]) == 1

    # --strip removes what it can; a key in a cell stays a problem.
    assert check.main(["--strip", str(dirty)]) == 1
    left = check.check_paths([dirty])
    assert len(left) == 2 and all("looks like a key" in line for line in left)
    assert "widgets" not in nbformat.read(dirty, as_version=4).metadata


def test_check_accepts_keys_from_the_environment(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('key = os.environ["MOECOHORT_DATA_API_KEY"]'),
        nbformat.v4.new_code_cell('app = mc.AppCredentials.from_env("MOECOHORT_DEST")'),
        nbformat.v4.new_code_cell('print("token ok")'),
    ]
    path = tmp_path / "fine.ipynb"
    nbformat.write(nb, path)
    assert check.check_paths([path]) == []


# --------------------------------------------------------------------------- they run
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, kernel_env: Path) -> None:
    nb = execute(nbformat.read(path, as_version=4))
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    text = text_of(nb)
    assert "No credentials configured" in text and "local emulator" in text
    if path.name.startswith("01"):
        assert "2,400 members, 2,400 expected" in text
        # The estimate of step 5b against the exact fraction of the export.
        assert "estimate: 67.0% (62.5% to 71.2%, 95%) of 3,760 users, 400 looked up" in text
        assert "exact:    63.8% (2,400 of 3,760, from app B's export)" in text
        assert "the interval contains the exact fraction: True" in text
        # "Check destination" before the push; the result shows the members expected.
        assert "PreflightReport: ready: cohort 'High intent shoppers from ShopNow'" in text
        assert "2,400 users accepted by the API (add)" in text
        assert re.search(r"; 2,400 \(2,3\d\d to 2,400, 95%\) expected to land", text), text
    else:
        assert "160 members in app A, 0 in app B" in text
        assert "members, 239 expected" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "no chart was drawn"
    # Every table shows counts as integers and missing counts as 0: no "2420.0", no
    # "3.000000", no NaN.
    tables = [
        o["data"]["text/html"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if "<table" in o.get("data", {}).get("text/html", "")
    ]
    assert tables
    for table in tables:
        assert not re.search(r">\s*NaN\s*<", table), table
        assert not re.search(r"\d\.0+\s*</td>", table), table


@pytest.mark.notebook
def test_notebook_01_without_the_destination_export_asks_app_b(kernel_env: Path) -> None:
    """DESTINATION_EXPORT = None: the users app B has come from its Get User API (the exact
    lookups of step 5), and the estimate's interval holds the exact fraction."""
    nb = nbformat.read(NOTEBOOK_DIR / "01_sync_segment_between_apps.ipynb", as_version=4)
    load = next(c for c in nb.cells if c.get("id") == "load")
    load.source, n = re.subn(
        r"^DESTINATION_EXPORT = .*$", "DESTINATION_EXPORT = None", load.source, flags=re.M
    )
    assert n == 1
    nb = execute(nb)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    text = text_of(nb)
    assert "no export of app B: app B will be asked" in text
    assert "No export of app B: no overlap report" in text
    assert "2,420 rows of users known to app B; 1,380 rows left out" in text
    assert "estimate: 67.0% (62.5% to 71.2%, 95%) of 3,760 users, 400 looked up" in text
    assert "exact:    63.8% (2,400 of 3,760, every id looked up in app B)" in text
    assert "the interval contains the exact fraction: True" in text
    assert "2,400 members, 2,400 expected" in text


# --------------------------------------------------------------------------- no key saved
TYPE_AND_SAVE = r"""
import json, os
from ipywidgets import Widget

typed = os.environ.pop("MOECOHORT_TEST_TYPED_KEY")  # the key is never in this file
box.emulator.add_workspace("TYPED-WS", typed, users=["1004821"])
picker = apps.destination
def browser_sends(widget, **state):  # what JupyterLab sends when the user edits a field
    widget._handle_msg({"content": {"data": {"method": "update", "state": state,
                                              "buffer_paths": []}}, "buffers": []})
browser_sends(picker.workspace_field, value="TYPED-WS")
browser_sends(picker.name_field, value="typed")
browser_sends(picker.key_field, value=typed)
del typed
picker.test_button.click()
print(picker.status.value)
picker.save_button.click()
print(picker.status.value)
"""

DUMP_STATE = r"""
with open(os.environ["MOECOHORT_TEST_STATE_FILE"], "w") as fh:
    json.dump(Widget.get_manager_state(), fh)
"""


@pytest.mark.notebook
def test_notebook_saved_with_widget_state_holds_no_key(
    kernel_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run notebook 01, type a key into the destination picker as the browser would,
    test and save it, then save the notebook the way JupyterLab does with "Save Widget
    State Automatically" on: the key must be nowhere in the file."""
    key = "typed-" + secrets.token_hex(16)
    state_file = tmp_path / "kernel-widget-state.json"
    monkeypatch.setenv("MOECOHORT_TEST_TYPED_KEY", key)
    monkeypatch.setenv("MOECOHORT_TEST_STATE_FILE", str(state_file))

    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(TYPE_AND_SAVE), nbformat.v4.new_code_cell(DUMP_STATE)]
    execute(nb)
    status = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
    assert "Connected: credentials accepted" in status and "TYPED-WS" in status
    assert "saved profile" in status and "****" + key[-4:] in status

    # The key did reach the kernel and the profile store: the test typed a real key.
    profiles = (kernel_env / "moecohort-config" / "profiles.toml").read_text()
    assert key in profiles

    # Widget state as the browser holds it (nbclient records the kernel's messages, as a
    # front end does) and as the kernel holds it (get_manager_state), each saved into
    # the notebook the way JupyterLab saves it.
    kernel_state = json.loads(state_file.read_text())
    front_state = nb.metadata["widgets"][WIDGET_STATE_MIME]
    saved_files = []
    for label, state in (("front", front_state), ("kernel", kernel_state)):
        nb.metadata["widgets"] = {WIDGET_STATE_MIME: state}
        path = tmp_path / f"saved-with-{label}-state.ipynb"
        nbformat.write(nb, path)
        saved_files.append(path)

    for path in saved_files:
        raw = path.read_text(encoding="utf-8")
        assert key not in raw, f"the key is in {path.name}"
        assert base64.b64encode(key.encode()).decode() not in raw
        saved = nbformat.read(path, as_version=4)
        models = saved.metadata["widgets"][WIDGET_STATE_MIME]["state"]
        passwords = [m for m in models.values() if m["model_name"] == "PasswordModel"]
        assert len(passwords) == 2, "both pickers' key fields are saved"
        assert all(m["state"].get("value", "") == "" for m in passwords)
        assert any("****" + key[-4:] in m["state"].get("placeholder", "") for m in passwords)
        assert check.problems(saved)  # and the check would refuse to commit it
