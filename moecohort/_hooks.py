"""Run a function right after a module is imported (now, if it already is).

Used by :mod:`moecohort` to register ``df.moe`` once pandas is loaded, whichever of the
two is imported first. Written here rather than taken from ``wrapt`` (whose post-import
hooks do the same) because importing wrapt 2 loads ``asyncio`` and ``importlib.metadata``:
about 80 ms, a third of what ``moecohort --help`` may take.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["after_import"]


def after_import(name: str, hook: Callable[[], object]) -> None:
    """Call ``hook()`` once module ``name`` is imported (at once if it already is)."""
    if name in sys.modules:
        hook()
    else:
        sys.meta_path.insert(0, _Finder(name, hook))


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``name`` the usual way, with a loader that calls the hook after it loads."""

    def __init__(self, name: str, hook: Callable[[], object]) -> None:
        self.name = name
        self.hook = hook

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once: the real finders do the finding
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.hook)
        return spec


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the hook; the module keeps its own loader."""

    def __init__(self, loader: importlib.abc.Loader, hook: Callable[[], object]) -> None:
        self.loader = loader
        self.hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        self.hook()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader and friends
        return getattr(self.loader, name)
