"""Hostile model files: no crash, no allocation beyond the file's own bytes, a clear error.

Each crafted file is a few hundred bytes. The ones that crashed or bloated the loader before
run in a child process with an address-space limit (``tests/isolated.py``).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from isolated import load_isolated
from scvi_viz import ModelFileError, UnsafeModelFileError
from scvi_viz.io.safe_pickle import MAX_MEMBERS, OpaqueObject, safe_torch_load

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "models" / "scvi_default" / "model.pt"


class Call:
    """Pickles as ``func(*args)`` (and ``BUILD`` with ``state``): any call a crafted file can ask for."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


class Storage:
    """Pickles as a persistent id naming tensor data ``key`` in the archive."""

    def __init__(self, key: str, numel: int, kind=torch.FloatStorage):
        self.key, self.numel, self.kind = key, numel, kind


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def write_model(path: Path, obj, storages: dict[str, bytes] | None = None, *, compression=zipfile.ZIP_STORED) -> Path:
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        for key, data in (storages or {}).items():
            zf.writestr(f"archive/data/{key}", data)
        zf.writestr("archive/version", "3\n")
    return path


RECONSTRUCT = np._core.multiarray._reconstruct if hasattr(np, "_core") else np.core.multiarray._reconstruct
SCALAR = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
REBUILD = torch._utils._rebuild_tensor_v2


def tensor(storage: Storage, offset: int, size: tuple, stride: tuple) -> Call:
    return Call(REBUILD, (storage, offset, size, stride, False, collections.OrderedDict()))


# (name, object to pickle, tensor data) -> the loader must refuse it, with a scvi-viz error.
CRAFTED = {
    "object_array_over_bytes": (Call(np.ndarray, ((1,), np.dtype("O"), b"\x41" * 8)), {}),
    "object_array_reconstructed_over_bytes": (
        Call(RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, (1,), np.dtype("O"), False, b"\x41" * 8)), {}
    ),
    "dtype_with_object_flags": (
        Call(RECONSTRUCT, (np.ndarray, (0,), b"b"),
             (1, (1,), Call(np.dtype, ("f8", False, True), (3, "<", None, None, None, -1, -1, 63)), False, b"\x41" * 8)),
        {},
    ),
    "structured_dtype_with_object_field": (Call(np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)), {}),
    "object_scalar_from_bytes": (Call(SCALAR, (np.dtype("O"), b"\x41" * 8)), {}),
    "array_declares_more_than_its_bytes": (
        Call(RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, (10**9, 10**3), np.dtype("f8"), False, b"\x00" * 8)), {}
    ),
    "huge_bytes": (Call(bytes, (10**11,)), {}),
    "huge_bytearray": (Call(bytearray, (10**11,)), {}),
    "list_of_a_long_string": (Call(list, ("a" * 1000,)), {}),
    "storage_declares_more_than_present": (tensor(Storage("0", 10**10), 0, (10**5, 10**5), (10**5, 1)), {"0": b"\x00" * 16}),
    "zero_stride_expanding_view": (tensor(Storage("0", 4), 0, (10**5, 10**5), (0, 0)), {"0": b"\x00" * 16}),
    "overlapping_expanding_view": (tensor(Storage("0", 199), 0, (100, 100), (1, 1)), {"0": b"\x00" * 796}),
    "view_past_its_storage": (tensor(Storage("0", 4), 2, (4,), (1,)), {"0": b"\x00" * 16}),
    "negative_stride": (tensor(Storage("0", 4), 0, (4,), (-1,)), {"0": b"\x00" * 16}),
    "tensor_from_a_plain_tuple": (Call(REBUILD, ((b"x", torch.float32), 0, (1,), (1,), False, None)), {}),
    "defaultdict_calling_bytes": (Call(collections.defaultdict, (bytes,)), {}),
    "state_set_on_a_tensor": (
        Call(REBUILD, (Storage("0", 4), 0, (4,), (1,), False, collections.OrderedDict()), (Storage("0", 4), 0, (10**6,), (1,))),
        {"0": b"\x00" * 16},
    ),
}


def _patch_sizes(path: Path, member: str, size: int) -> None:
    """Rewrite the uncompressed size ``member`` declares, in its local and central headers."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for sig, offset, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        pos = data.find(sig)
        while pos >= 0:
            if data[pos + name_at : pos + name_at + len(name)] == name:
                data[pos + offset : pos + offset + 4] = struct.pack("<I", size)
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def crafted_outcomes(tmp_path_factory) -> dict[str, tuple[str, str, int]]:
    folder = tmp_path_factory.mktemp("crafted")
    paths = {name: write_model(folder / f"{name}.pt", obj, storages) for name, (obj, storages) in CRAFTED.items()}
    # A deflated data.pkl that inflates to 200 MB but declares 1,000 bytes.
    paths["deflated_lies"] = write_model(folder / "deflated.pt", {"pad": "a" * (200 * 1024**2)}, compression=zipfile.ZIP_DEFLATED)
    _patch_sizes(paths["deflated_lies"], "archive/data.pkl", 1000)
    # LONG_BINPUT 2**31 - 1: the C unpickler sizes its memo table to the index.
    paths["huge_memo_index"] = folder / "memo.pt"
    with zipfile.ZipFile(paths["huge_memo_index"], "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}r\xff\xff\xff\x7f.")
    outcomes = load_isolated([("pickle", str(p)) for p in paths.values()], limit=2 * 1024**3)
    return {name: (*outcome, paths[name].stat().st_size) for name, outcome in zip(paths, outcomes)}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_model_is_refused_without_crash_or_blow_up(crafted_outcomes, name):
    outcome, message, size = crafted_outcomes[name]
    assert size < 2000
    assert outcome in ("ModelFileError", "UnsafeModelFileError"), (outcome, message)
    assert "model" in message.lower() and len(message) > 40


def test_object_array_over_bytes_crashed_an_unrestricted_numpy(tmp_path):
    """Control: the first crafted file above does segfault a process that unpickles it with numpy's own classes."""
    path = write_model(tmp_path / "model.pt", CRAFTED["object_array_over_bytes"][0])
    [(outcome, message)] = load_isolated([("unpickle", str(path))])
    assert outcome == "DIED" and "-11" in message


def test_real_model_parts_still_read(tmp_path):
    """What real files hold is read exactly: object arrays from lists, dtypes with their byte order, scalars."""
    values = {
        "names": np.array(["CD3E", "MS4A1"], dtype=object),
        "big_endian": np.arange(5, dtype=">f8"),
        "unicode": np.array(["ab", "c"]),
        "scalar": np.float32(2.5),
        "empty": bytes(),
        "t": torch.arange(6, dtype=torch.float32).reshape(2, 3).T,
    }
    torch.save(values, tmp_path / "model.pt")
    out = safe_torch_load(tmp_path / "model.pt")
    assert list(out["names"]) == ["CD3E", "MS4A1"]
    np.testing.assert_array_equal(out["big_endian"], values["big_endian"])
    assert out["big_endian"].dtype == pickle.loads(pickle.dumps(values["big_endian"], protocol=2)).dtype
    assert list(out["unicode"]) == ["ab", "c"]
    assert out["scalar"] == np.float32(2.5) and out["scalar"].dtype == np.float32
    assert out["empty"] == b""
    torch.testing.assert_close(out["t"], values["t"], rtol=0, atol=0)
    assert out["t"].stride() == (1, 3)


def test_pandas_history_is_inert():
    history = safe_torch_load(GOOD)["attr_dict"]["history_"]
    assert history and all(isinstance(v, OpaqueObject) for v in history.values())


def test_deflated_member_larger_than_it_claims_is_not_inflated(crafted_outcomes):
    outcome, message, size = crafted_outcomes["deflated_lies"]
    assert size < 400_000
    assert outcome == "ModelFileError", message


def test_deflated_member_beyond_the_files_expansion_cap_is_refused_before_reading(tmp_path):
    path = write_model(tmp_path / "model.pt", {"pad": "a" * (50 * 1024**2)}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelFileError, match="declares"):
        safe_torch_load(path)


def test_too_many_members_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
        for i in range(MAX_MEMBERS + 1):
            zf.writestr(f"archive/data/{i}", b"")
    with pytest.raises(ModelFileError, match="members"):
        safe_torch_load(path)


def test_huge_memo_index_allocates_nothing(crafted_outcomes):
    outcome, message, _ = crafted_outcomes["huge_memo_index"]
    assert outcome == "ok", message


def test_encrypted_and_unknown_compression_members_give_model_file_error(tmp_path):
    path = write_model(tmp_path / "model.pt", {"a": 1})
    data = bytearray(path.read_bytes())
    data[data.find(b"PK\x01\x02") + 8] |= 1  # the central header's "encrypted" flag
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        safe_torch_load(path)
    path2 = write_model(tmp_path / "model2.pt", {"a": 1})
    data = bytearray(path2.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = data.find(sig)
        data[pos + offset : pos + offset + 2] = struct.pack("<H", 99)
    path2.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        safe_torch_load(path2)


def test_error_for_unsafe_call_names_it(tmp_path):
    path = write_model(tmp_path / "model.pt", CRAFTED["object_array_over_bytes"][0])
    with pytest.raises(ModelFileError):
        safe_torch_load(path)
    path = write_model(tmp_path / "model2.pt", CRAFTED["huge_bytes"][0])
    with pytest.raises(UnsafeModelFileError, match="bytes"):
        safe_torch_load(path)
