"""Run a piece of scvi_viz in a child process with an address-space limit.

A segfault or an allocation past the limit then fails the calling test instead of killing
the test run (or the machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDRESS_SPACE = 3 * 1024**3
"""``RLIMIT_AS`` of the child: torch and numpy need about 1.5 GB of address space to start."""

_CHILD = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import torch
torch.set_num_threads(1)
import scvi_viz
from scvi_viz.io.adata import read_h5ad
from scvi_viz.io.safe_pickle import safe_torch_load
results = []
encoder = None
for kind, path in json.loads(sys.stdin.read()):
    try:
        if kind == "model":
            model = scvi_viz.load_model(path, device="cpu")
            model.decode([0.0] * model.n_latent)
        elif kind == "pickle":
            safe_torch_load(path)
        elif kind == "unpickle":  # control: numpy's and torch's own classes, as an unrestricted loader has them
            repr(torch.load(path, weights_only=False))
        else:
            adata = read_h5ad(path)
            if encoder is None:
                encoder = scvi_viz.load_model(sys.argv[2], device="cpu")
            encoder.encode(adata, allow_missing_genes=True)
        results.append(["ok", ""])
    except (scvi_viz.ScviVizError, FileNotFoundError) as exc:
        results.append([type(exc).__name__, str(exc)])
    except BaseException as exc:
        results.append(["RAW " + type(exc).__name__, str(exc)[:300]])
print("RESULTS" + json.dumps(results))
"""


def _run(cases: list[tuple[str, str]], limit: int, timeout: float) -> list[tuple[str, str]] | str:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(limit), str(ROOT / "tests" / "fixtures" / "models" / "scvi_covariates")], input=json.dumps(cases), capture_output=True,
            text=True, timeout=timeout, cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    marker = proc.stdout.rfind("RESULTS")
    if proc.returncode != 0 or marker < 0:
        return f"exit status {proc.returncode}: {proc.stderr[-500:]}"
    return [tuple(r) for r in json.loads(proc.stdout[marker + len("RESULTS"):])]


def load_isolated(cases: list[tuple[str, str]], *, limit: int = ADDRESS_SPACE, timeout: float = 600) -> list[tuple[str, str]]:
    """Load each ``(kind, path)`` in a child process; one ``(outcome, message)`` per case.

    ``kind`` is ``"model"`` (``load_model`` and one decode), ``"pickle"`` (``safe_torch_load``),
    ``"h5ad"`` (``read_h5ad``, then ``encode`` with the fixture model ``scvi_covariates``), or ``"unpickle"`` (``torch.load(weights_only=False)``, for
    controls only). All cases run in one child; if it dies (a signal, a memory limit hit
    outside Python, a time-out), each case runs again in a child of its own, and the ones
    that die there get the outcome ``"DIED"``. Otherwise the outcome is ``"ok"``, the name of
    a scvi-viz error class (or ``FileNotFoundError``), or ``"RAW <type>"`` for any other
    exception.
    """
    results = _run(cases, limit, timeout)
    if isinstance(results, list):
        return results
    out = []
    for case in cases:
        one = _run([case], limit, timeout)
        out.append(one[0] if isinstance(one, list) else ("DIED", one))
    return out
