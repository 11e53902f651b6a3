"""A second (third, ...) moecohort process for tests/test_budget.py; run as a script.

``push URL WORKSPACE KEY COHORT BODIES RPM SHARED DIR``: build BODIES full bodies of ids,
write ``DIR/COHORT.ready``, wait for ``DIR/go``, push them with ``push_cohort`` and write
``DIR/COHORT.json``: every start the pacer granted (the shared pacer's own times), the
attempts and whether the push was ok.

``reserve HOST WORKSPACE RPM``: take starts from the shared budget (``$MOECOHORT_BUDGET_DIR``)
for ever, one after the other; the test watches the store and kills this process.

``open KIND DIR ROUNDS``: processes opening a new store at the same moment (see
:func:`open_together`).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path


def push(argv: list[str]) -> None:
    url, workspace, key, cohort, bodies, rpm, shared, directory = argv
    import pandas as pd

    import moecohort as mc
    from moecohort.transport import pacer as pacer_module
    from moecohort.transport import shared_pacer

    starts: list[float] = []
    alone: list[float] = []  # starts taken while the pacer paced this process alone
    original = pacer_module.Pacer.acquire

    def recording(self, cancel=None):
        start = original(self, cancel)
        if start is not None:
            shared_start = isinstance(self, shared_pacer.SharedPacer) and self.shared
            starts.append(start if shared_start else time.time())
            if not shared_start:
                alone.append(starts[-1])
        return start

    pacer_module.Pacer.acquire = recording
    ids = [str(uuid.uuid4()) for _ in range(2_716 * int(bodies) - 100)]
    frame = pd.DataFrame({"uid": ids})
    app = mc.AppCredentials(workspace, key, base_url=url)
    folder = Path(directory)
    (folder / f"{cohort}.ready").touch()
    while not (folder / "go").exists():
        time.sleep(0.005)
    result = mc.push_cohort(
        frame,
        app,
        cohort,
        requests_per_minute=float(rpm),
        progress=False,
        shared_budget=shared == "1",
    )
    out = {"starts": starts, "alone": alone, "requests": result.requests, "ok": result.ok}
    (folder / f"{cohort}.json").write_text(json.dumps(out))


def reserve(argv: list[str]) -> None:
    host, workspace, rpm = argv
    from moecohort.transport import BudgetKey, SharedPacer

    pacer = SharedPacer(float(rpm), BudgetKey.of(host, workspace))
    while True:
        pacer.acquire()


def open_together(argv: list[str]) -> None:
    """``open KIND DIR ROUNDS``: ROUNDS times, three forked processes open a new store
    (``budget``: a BudgetStore and one start; ``state``: a SyncState) in a fresh folder
    under DIR at the same moment; print what failed, as JSON ({error: count})."""
    import multiprocessing
    import tempfile

    from moecohort.sync.state import SyncState
    from moecohort.transport import BudgetKey, BudgetStore, SharedPacer

    kind, directory, rounds = argv
    key = BudgetKey.of("https://api-01.moengage.com/", "WS")

    def one(folder: str, barrier, answers) -> None:
        barrier.wait()
        try:
            if kind == "budget":
                pacer = SharedPacer(6000.0, key, store=BudgetStore(folder))
                pacer.acquire()
                answers.put("ok" if pacer.shared else "paced alone")
            else:
                SyncState(Path(folder) / "state.sqlite").close()
                answers.put("ok")
        except Exception as exc:  # reported to the test, which names it
            answers.put(f"{type(exc).__name__}: {exc}")

    context = multiprocessing.get_context("fork")
    failed: dict[str, int] = {}
    for _ in range(int(rounds)):
        folder = tempfile.mkdtemp(dir=directory)
        barrier, answers = context.Barrier(3), context.Queue()
        workers = [context.Process(target=one, args=(folder, barrier, answers)) for _ in "abc"]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        for _ in workers:
            answer = answers.get()
            if answer != "ok":
                failed[answer] = failed.get(answer, 0) + 1
    print(json.dumps(failed))


if __name__ == "__main__":
    commands = {"push": push, "reserve": reserve, "open": open_together}
    commands[sys.argv[1]](sys.argv[2:])
