"""A real ``streamlit run`` server on 127.0.0.1 and the Chromium settings to drive it.

Shared by the browser tests (``conftest.py``) and ``benchmarks/interaction.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``python -m streamlit run SCRIPT`` on a free port of 127.0.0.1, in its own process group.

    Parameters
    ----------
    log_path
        Where the server's output goes.
    script, cwd
        The script, run from ``cwd`` (whose ``.streamlit/config.toml`` applies).
    env
        Environment variables set on top of this process's.
    command
        Instead of ``streamlit run script``: the command line for a given port (``scvi-viz launch
        --port N``, say), run from ``cwd``.
    """

    def __init__(self, log_path: Path, *, script: str = "app.py", cwd: Path = ROOT, env: dict[str, str] | None = None,
                 command: Callable[[int], list[str]] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.started = time.perf_counter()
        if command is None:
            args = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(self.port),
                    "--server.address", "127.0.0.1", "--server.headless", "true"]
        else:
            args = command(self.port)
        self.proc = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = 60) -> float:
        """Wait until ``/_stcore/health`` answers; returns the seconds since the process started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.url}: streamlit exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.url}: streamlit was not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server's whole process group (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
