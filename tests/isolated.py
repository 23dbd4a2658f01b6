"""Run pieces of scvi_viz in a child process with an address-space limit.

A segfault or an allocation past the limit then fails the calling test instead of killing
the test run (or the machine). What runs is a function of ``tests/fuzz_targets.py``, called
once per case with the case's JSON value.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADDRESS_SPACE = 3 * 1024**3
"""``RLIMIT_AS`` of the child: torch and numpy need about 1.5 GB of address space to start."""

_CHILD = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.path.insert(0, "tests")
import torch
torch.set_num_threads(1)
import scvi_viz
import fuzz_targets
target = getattr(fuzz_targets, sys.argv[2])
results = []
for case in json.loads(sys.stdin.read()):
    try:
        target(case)
        results.append(["ok", ""])
    except (scvi_viz.ScviVizError, FileNotFoundError) as exc:
        results.append([type(exc).__name__, str(exc)])
    except BaseException as exc:
        results.append(["RAW " + type(exc).__name__, str(exc)[:300]])
print("RESULTS" + json.dumps(results))
"""


def _run(target: str, cases: list[Any], limit: int, timeout: float) -> list[tuple[str, str]] | str:
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(limit), target], input=json.dumps(cases),
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    marker = proc.stdout.rfind("RESULTS")
    if proc.returncode != 0 or marker < 0:
        return f"exit status {proc.returncode}: {proc.stderr[-500:]}"
    return [tuple(r) for r in json.loads(proc.stdout[marker + len("RESULTS"):])]


def run_isolated(target: str, cases: list[Any], *, limit: int = ADDRESS_SPACE, timeout: float = 600) -> list[tuple[str, str]]:
    """Call ``fuzz_targets.<target>(case)`` for each case in a child process; one ``(outcome, message)`` each.

    All cases run in one child; if it dies (a signal, a memory limit hit outside Python, a
    time-out), each case runs again in a child of its own, and the ones that die there get the
    outcome ``"DIED"``. Otherwise the outcome is ``"ok"``, the name of a scvi-viz error class
    (or ``FileNotFoundError``), or ``"RAW <type>"`` for any other exception.
    """
    results = _run(target, cases, limit, timeout)
    if isinstance(results, list):
        return results
    out = []
    for case in cases:
        one = _run(target, [case], limit, timeout)
        out.append(one[0] if isinstance(one, list) else ("DIED", one))
    return out


def load_isolated(cases: list[tuple[str, str]], *, limit: int = ADDRESS_SPACE, timeout: float = 600) -> list[tuple[str, str]]:
    """Load each ``(kind, path)`` in a child process (:func:`fuzz_targets.load`); one ``(outcome, message)`` per case."""
    return run_isolated("load", [list(c) for c in cases], limit=limit, timeout=timeout)
