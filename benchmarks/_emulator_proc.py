"""Run the emulator in its own process for benchmarks (so it doesn't share the client's GIL)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests


class EmulatorProcess:
    """``moecohort emulator`` on a free loopback port, with helpers for its control API."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moecohort.cli", "emulator", "--port", str(self.port), "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                requests.get(self.url + "/_emulator", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the emulator did not start")

    def add_workspace(self, workspace_id: str, api_key: str, rpm: int = 10**9) -> None:
        requests.post(
            self.url + "/_emulator/workspaces",
            json={"workspace_id": workspace_id, "api_key": api_key, "requests_per_minute": rpm},
            timeout=10,
        ).raise_for_status()

    def requests_log(self, workspace_id: str) -> list[dict]:
        return requests.get(
            self.url + "/_emulator/requests",
            params={"workspace": workspace_id, "limit": 0},
            timeout=60,
        ).json()["requests"]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
