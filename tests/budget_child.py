"""A second (third, ...) moecohort process for tests/test_budget.py; run as a script.

``push URL WORKSPACE KEY COHORT BODIES RPM SHARED DIR``: build BODIES full bodies of ids,
write ``DIR/COHORT.ready``, wait for ``DIR/go``, push them with ``push_cohort`` and write
``DIR/COHORT.json``: every start the pacer granted (the shared pacer's own times), the
attempts and whether the push was ok.

``reserve HOST WORKSPACE RPM``: take starts from the shared budget (``$MOECOHORT_BUDGET_DIR``)
for ever, one after the other; the test watches the store and kills this process.
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
    original = pacer_module.Pacer.acquire

    def recording(self, cancel=None):
        start = original(self, cancel)
        if start is not None:
            shared_start = isinstance(self, shared_pacer.SharedPacer) and self.shared
            starts.append(start if shared_start else time.time())
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
    out = {"starts": starts, "requests": result.requests, "ok": result.ok}
    (folder / f"{cohort}.json").write_text(json.dumps(out))


def reserve(argv: list[str]) -> None:
    host, workspace, rpm = argv
    from moecohort.transport import BudgetKey, SharedPacer

    pacer = SharedPacer(float(rpm), BudgetKey.of(host, workspace))
    while True:
        pacer.acquire()


if __name__ == "__main__":
    {"push": push, "reserve": reserve}[sys.argv[1]](sys.argv[2:])
