"""The README's Python examples run as written, top to bottom, against the emulator."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(python_blocks()) >= 10


def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOECOHORT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    namespace: dict[str, object] = {"__name__": "readme"}
    saved_env = dict(os.environ)  # the examples set variables, as a reader would
    try:
        for i, block in enumerate(python_blocks()):
            try:
                exec(compile(block, f"README.md block {i + 1}", "exec"), namespace)
            except Exception as exc:  # pragma: no cover - the message is the point
                raise AssertionError(
                    f"README python block {i + 1} failed: {exc!r}\n{block}"
                ) from exc
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        emu = namespace.get("emu")
        if emu is not None:
            emu.stop()  # type: ignore[attr-defined]
