"""Random hostile input on the surfaces added after the loader: ``.zarr`` stores, cache files,
links, and the arguments of differential expression and latent paths.

Each batch runs in a child process with an address-space limit (``tests/isolated.py``), as the
loader fuzz does: the outcome must be success or a scvi-viz error; a raw exception, a crash, a
hang or an allocation past the limit fails the test. The default run is one batch per surface;
``pytest --slow`` runs many more.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import anndata as ad
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isolated import run_isolated
from test_fuzz_loader import edit, mutate

FIXTURES = Path(__file__).parent / "fixtures"
FAST = settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
"""Two batches: hypothesis draws the simplest one first, then one at random (the same in every run)."""
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))


def check(target: str, cases: list, *, allowed: set[str] | None = None, shown: list | None = None) -> None:
    """Run ``fuzz_targets.<target>`` over ``cases`` in a child; every outcome must be success or a
    scvi-viz error (or one of ``allowed``). ``shown``: what to print for a failing case."""
    outcomes = run_isolated(target, cases, timeout=300)
    bad = [(case, outcome) for case, outcome in zip(shown or cases, outcomes)
           if outcome[0].startswith("RAW") or outcome[0] == "DIED" or (allowed is not None and outcome[0] not in allowed)]
    assert not bad, (target, bad[:3])


# ----------------------------------------------------------------------------- .zarr stores
@pytest.fixture(scope="module")
def zarr_base(tmp_path_factory) -> Path:
    """The fixture cells as a store with several chunks per array, as the fuzz's starting point."""
    import zarr

    path = tmp_path_factory.mktemp("zarr_base") / "cells.zarr"
    ad.read_h5ad(FIXTURES / "adata.h5ad").write_zarr(path)
    group = zarr.open_group(path, mode="r+")
    for part in ("data", "indices", "indptr"):
        values, attrs = group[f"X/{part}"][:], dict(group[f"X/{part}"].attrs)
        del group[f"X/{part}"]
        group.create_array(f"X/{part}", data=values, chunks=(max(len(values) // 5, 1),)).attrs.update(attrs)
    zarr.consolidate_metadata(path)
    return path


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats() | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=8)
store_mutation = st.one_of(
    st.tuples(st.just("bytes"), st.floats(0, 1, exclude_max=True), st.lists(edit, min_size=1, max_size=6)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.floats(0, 1)),
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("link"), st.floats(0, 1, exclude_max=True), st.sampled_from(["outside", "inside", "dev"])),
    st.tuples(st.just("field"), st.floats(0, 1, exclude_max=True),
              st.sampled_from(["shape", "chunks", "dtype", "compressor", "filters", "fill_value", "zarr_format",
                               "dimension_separator", "encoding-type", "shape", "order"]), _json),
)


def _mutate_store(store: Path, mutation: tuple, outside: Path) -> None:
    files = sorted(p for p in store.rglob("*") if p.is_file())
    target = files[int(mutation[1] * len(files))]
    kind = mutation[0]
    if kind == "bytes":
        target.write_bytes(mutate(target.read_bytes(), mutation[2]))
    elif kind == "truncate":
        target.write_bytes(target.read_bytes()[: int(mutation[2] * target.stat().st_size)])
    elif kind == "delete":
        target.unlink()
    elif kind == "link":
        target.unlink()
        target.symlink_to({"outside": outside, "inside": files[0], "dev": Path("/dev/zero")}[mutation[2]])
    else:
        metadata = [p for p in files if p.name in (".zarray", ".zattrs", "zarr.json", ".zmetadata")]
        target = metadata[int(mutation[1] * len(metadata))]
        meta = json.loads(target.read_text())
        meta[mutation[2]] = mutation[3]
        target.write_text(json.dumps(meta))


def check_stores(zarr_base: Path, folder: Path, mutations: list[list[tuple]]) -> None:
    outside = folder / "outside.bin"
    outside.write_bytes(os.urandom(256))
    paths = []
    for i, steps in enumerate(mutations):
        store = folder / f"s{i}.zarr"
        shutil.copytree(zarr_base, store)
        for step in steps:
            try:
                _mutate_store(store, step, outside)
            except (IndexError, ValueError, UnicodeDecodeError):  # nothing left of that kind to mutate
                pass
        paths.append(str(store))
    check("zarr_store", paths, allowed={"ok", "DataError", "FileNotFoundError"}, shown=mutations)


def test_the_unmutated_store_is_read_whole(zarr_base):
    assert run_isolated("zarr_store", [str(zarr_base)]) == [("ok", "")]


@FAST
@given(st.lists(st.lists(store_mutation, min_size=1, max_size=3), min_size=30, max_size=30))
def test_mutated_stores_are_read_or_refused_in_words(zarr_base, tmp_path_factory, mutations):
    check_stores(zarr_base, tmp_path_factory.mktemp("stores"), mutations)


@pytest.mark.slow
@SLOW
@given(st.lists(st.lists(store_mutation, min_size=1, max_size=4), min_size=40, max_size=40))
def test_many_mutated_stores_are_read_or_refused_in_words(zarr_base, tmp_path_factory, mutations):
    check_stores(zarr_base, tmp_path_factory.mktemp("stores"), mutations)


# ----------------------------------------------------------------------------- cache files
def check_cache_files(folder: Path, mutations: list) -> None:
    from fuzz_targets import cache_arrays

    from scvi_viz.io.array_cache import write_arrays

    paths = []
    for i, (how, edits, cut) in enumerate(mutations):
        path = folder / f"m{'0' * 64}-d{'1' * 64}" / f"arrays{i}.npz"
        write_arrays(path, cache_arrays())
        raw = path.read_bytes()
        path.write_bytes(mutate(raw, edits) if how == "bytes" else raw[: int(cut * len(raw))] if how == "truncate"
                         else raw + mutate(raw, edits))
        paths.append(str(path))
    check("cache_file", paths, allowed={"ok"}, shown=mutations)


def test_an_unchanged_cache_file_is_read_back(tmp_path):
    """Control: the file the fuzz mutates is read back as written (so a mutation is what is tested)."""
    from fuzz_targets import CACHE_ARRAYS, cache_arrays

    from scvi_viz.io.array_cache import read_arrays, write_arrays

    path = tmp_path / f"m{'0' * 64}-d{'1' * 64}" / "arrays.npz"
    write_arrays(path, cache_arrays())
    got = read_arrays(path, CACHE_ARRAYS)
    assert got is not None and all((got[k] == v).all() for k, v in cache_arrays().items())


cache_mutation = st.tuples(st.sampled_from(["bytes", "truncate", "append"]), st.lists(edit, min_size=1, max_size=8), st.floats(0, 1))


@FAST
@given(st.lists(cache_mutation, min_size=40, max_size=40))
def test_mutated_cache_files_are_used_or_recomputed(tmp_path_factory, mutations):
    check_cache_files(tmp_path_factory.mktemp("cache"), mutations)


@pytest.mark.slow
@SLOW
@given(st.lists(cache_mutation, min_size=60, max_size=60))
def test_many_mutated_cache_files_are_used_or_recomputed(tmp_path_factory, mutations):
    check_cache_files(tmp_path_factory.mktemp("cache"), mutations)


# ----------------------------------------------------------------------------- links
_numbers = st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers(-10**30, 10**30).map(str)
_values = (st.text(max_size=40) | _numbers | st.lists(_numbers, max_size=12).map(",".join)
           | st.integers(0, 3000).map(lambda n: "[" * n + "]" * n) | st.integers(0, 5000).map(lambda n: "a/" * n)
           | st.sampled_from(["../../etc/passwd", "/etc/passwd", "..", "", "\x00", "server", "upload", "2"]))
_keys = st.sampled_from(["v", "z", "n", "m", "d", "page", "src", "sm", "sd", "b", "l", "g", "cell", "c.batch", "k.cont1",
                         "x.anything", "xj.cmp_point", "xj.de", "xj.anything"]) | st.text(max_size=8)
VALID_LINK = {"v": "2", "m": "23d8d413e26385230e8d05854ecac6ccf388df46dbd0f7455be4913cfdd890e2", "z": "0.5,-1,0,2",
              "n": "1000", "b": "b1", "c.cat1": "y", "c.cat2": "p", "k.cont1": "0.5", "k.cont2": "1", "g": "gene_01,gene_05",
              "src": "server", "sm": "models/m", "sd": "d.h5ad", "page": "compare", "xj.de": '{"groupby": "label"}',
              "x.colour": "label"}
"""A link the fixture model ``scvi_covariates`` opens; the fuzz changes a few of its values."""
link_params = st.dictionaries(_keys, _values, max_size=3).map(lambda d: VALID_LINK | d)


def test_the_unchanged_link_opens():
    assert run_isolated("link", [VALID_LINK]) == [("ok", "")]


@FAST
@given(st.lists(link_params | st.dictionaries(_keys, _values, max_size=8), min_size=60, max_size=60))
def test_random_links_open_or_are_refused_in_words(links):
    check("link", links)


@pytest.mark.slow
@SLOW
@given(st.lists(link_params, min_size=100, max_size=100))
def test_many_random_links_open_or_are_refused_in_words(links):
    check("link", links)


# ----------------------------------------------------------------------------- analysis arguments
_odd = st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 2, 10**9, -10**9, 2.5, "10", None, True, [1], {}])
VALID_DE = {"groupby": "batch", "group1": "b0", "group2": "b1", "n_samples": 200, "delta": 0.25, "fdr_target": 0.05, "seed": 0}
"""Arguments the fixture model's DE runs with; the fuzz changes one to three of them."""
_de_changes = {
    "groupby": st.sampled_from(["label", "batch", "cat1", "cont1", "nope", None, 3]),
    "group1": st.sampled_from(["b0", "b2", "x", "0", None, 0]),
    "group2": st.sampled_from(["b0", "b1", None, "y", "q"]),
    "idx1": st.lists(st.integers(-200, 200), max_size=20) | st.lists(st.booleans(), min_size=120, max_size=120) | _odd,
    "idx2": st.lists(st.integers(-5, 130), max_size=20) | _odd,
    "delta": st.floats(allow_nan=True) | _odd,
    "fdr_target": st.floats(allow_nan=True) | _odd,
    "n_samples": st.integers(-5, 400) | _odd,
    "seed": st.integers(-5, 2**70) | _odd,
    "batch_correction": st.booleans() | _odd,
    "batch": st.sampled_from(["b0", "b1", "nope", None, 1]),
}
de_arguments = st.lists(st.sampled_from(sorted(_de_changes)), min_size=1, max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: _de_changes[k] for k in keys})).map(lambda d: VALID_DE | d)


def _jsonable(cases: list[dict]) -> list[dict]:
    return json.loads(json.dumps(cases, default=str))


def test_the_unchanged_de_arguments_give_a_table():
    assert run_isolated("de", [VALID_DE]) == [("ok", "")]


@FAST
@given(st.lists(de_arguments, min_size=25, max_size=25))
def test_random_de_arguments_give_a_table_or_a_scvi_viz_error(cases):
    check("de", _jsonable(cases))


_coordinate = st.floats(-1e6, 1e6) | st.sampled_from([math.nan, math.inf, 1e300])
_point = st.lists(st.floats(-5, 5), min_size=3, max_size=3) | st.lists(_coordinate, min_size=2, max_size=4) | _odd
path_arguments = st.fixed_dictionaries({
    "start": _point, "end": st.lists(st.floats(-5, 5), min_size=3, max_size=3),
    "kind": st.sampled_from(["straight", "graph", "graph", "wiggly", 1]),
    "n_steps": st.integers(2, 200) | st.integers(-3, 20_000) | _odd,
    "graph": st.booleans(),
    "n_neighbors": st.integers(1, 30) | st.integers(-2, 300) | _odd,
})


@FAST
@given(st.lists(path_arguments, min_size=40, max_size=40))
def test_random_path_arguments_give_a_path_or_a_scvi_viz_error(cases):
    check("path", _jsonable(cases))


@pytest.mark.slow
@SLOW
@given(st.lists(de_arguments, min_size=25, max_size=25), st.lists(path_arguments, min_size=60, max_size=60))
def test_many_random_analysis_arguments_give_results_or_scvi_viz_errors(de_cases, path_cases):
    check("de", _jsonable(de_cases))
    check("path", _jsonable(path_cases))
