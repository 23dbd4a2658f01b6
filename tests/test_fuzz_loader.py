"""The loader over randomly mutated bytes of the real fixture models and ``.h5ad`` files.

Every mutated file is loaded (and, if it loads, decoded once) in a child process with an
address-space limit (``tests/isolated.py``): the outcome must be success or a scvi-viz error;
a raw exception, a crash or an allocation past the limit fails the test. The default run is
short (one batch); ``pytest --slow`` (or ``-m slow``) runs many more.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isolated import load_isolated

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = sorted(FIXTURES.glob("models/*/model.pt")) + sorted(FIXTURES.glob("releases/*/*/model.pt"))
H5AD = FIXTURES / "adata.h5ad"
GOOD = {"ok", "ModelFileError", "UnsafeModelFileError", "UnsupportedModelError", "DataError", "FileNotFoundError"}

edit = st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.floats(0, 1, exclude_max=True), st.integers(0, 255))
mutation = st.fixed_dictionaries({
    "target": st.sampled_from(["pickle", "pickle", "file", "truncate"]),
    "source": st.integers(0, len(MODELS) - 1),
    "edits": st.lists(edit, min_size=1, max_size=8),
})
h5ad_mutation = st.fixed_dictionaries({"target": st.sampled_from(["file", "truncate"]), "edits": st.lists(edit, min_size=1, max_size=8)})


def mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        i = int(where * len(out)) if out else 0
        if kind == "flip" and out:
            out[i] ^= 1 << (value % 8)
        elif kind == "set" and out:
            out[i] = value
        elif kind == "insert":
            out[i:i] = bytes([value]) * (1 + value % 4)
        elif kind == "delete" and out:
            del out[i : i + 1 + value % 4]
    return bytes(out)


def rezip_with_pickle(path: Path, edits) -> bytes:
    """The model archive with its ``data.pkl`` mutated and valid CRCs, so the unpickler itself sees the mutation."""
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, mutate(data, edits) if info.filename.endswith("/data.pkl") else data)
    return buf.getvalue()


def write_case(folder: Path, i: int, case: dict) -> tuple[str, str]:
    if "source" in case:
        source = MODELS[case["source"]]
        raw = source.read_bytes()
        data = {
            "pickle": lambda: rezip_with_pickle(source, case["edits"]),
            "file": lambda: mutate(raw, case["edits"]),
            "truncate": lambda: raw[: int(case["edits"][0][1] * len(raw))],
        }[case["target"]]()
        target = folder / f"m{i}"
        target.mkdir()
        (target / "model.pt").write_bytes(data)
        return ("model", str(target))
    raw = H5AD.read_bytes()
    data = mutate(raw, case["edits"]) if case["target"] == "file" else raw[: int(case["edits"][0][1] * len(raw))]
    path = folder / f"d{i}.h5ad"
    path.write_bytes(data)
    return ("h5ad", str(path))


def check_batch(tmp_path_factory, models: list[dict], datasets: list[dict]) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    cases = [write_case(folder, i, c) for i, c in enumerate(models + datasets)]
    outcomes = load_isolated(cases)
    bad = [(case, outcome) for case, outcome in zip(models + datasets, outcomes) if outcome[0] not in GOOD]
    assert not bad, bad[:5]


FAST = settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(models=st.lists(mutation, min_size=24, max_size=24), datasets=st.lists(h5ad_mutation, min_size=8, max_size=8))
def test_mutated_files_load_or_give_a_scvi_viz_error(tmp_path_factory, models, datasets):
    check_batch(tmp_path_factory, models, datasets)


@pytest.mark.slow
@SLOW
@given(models=st.lists(mutation, min_size=40, max_size=40), datasets=st.lists(h5ad_mutation, min_size=10, max_size=10))
def test_many_mutated_files_load_or_give_a_scvi_viz_error(tmp_path_factory, models, datasets):
    check_batch(tmp_path_factory, models, datasets)


def test_the_unmutated_fixtures_load():
    """Control: the sources of the mutations load, so a mutation is what the fuzz tests exercise."""
    outcomes = load_isolated([("model", str(p.parent)) for p in MODELS[:3]] + [("h5ad", str(H5AD))])
    assert all(o[0] == "ok" for o in outcomes), outcomes
