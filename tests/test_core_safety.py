"""Loading never runs code from a file, refuses other model classes and damaged files clearly."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

import scvi_viz
from scvi_viz import ModelFileError, UnsafeModelFileError, UnsupportedModelError, load_model
from scvi_viz.io.safe_pickle import safe_torch_load


FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "models" / "scvi_default"
REFUSED = sorted(p for p in (FIXTURES / "refused").iterdir() if (p / "model.pt").is_file())
RAW_ERRORS = (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, KeyError, AttributeError, TypeError, IndexError)


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and modification time of every file under ``root`` (or of ``root`` itself)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def assert_clean_error(exc: BaseException) -> None:
    """A scvi-viz error for a person, not a raw pickle/zip/torch error."""
    assert isinstance(exc, (ModelFileError, UnsupportedModelError, FileNotFoundError))
    assert not isinstance(exc, RAW_ERRORS) or isinstance(exc, scvi_viz.ScviVizError)
    message = str(exc)
    assert len(message) > 20
    assert "Traceback" not in message


# ------------------------------------------------------------------ crafted pickles
class RunShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class OpenFile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


class Eval:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"open({str(self.marker)!r}, 'w')",))


class WriteText:
    """A method of a class: protocol 2 pickles it as ``getattr(pathlib.Path, 'write_text')``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


# The global each payload names (its module differs between pickle protocols and platforms).
PAYLOADS = {RunShell: "system", OpenFile: "open", Eval: "eval", WriteText: "getattr"}


def assert_names_global(exc: BaseException, name: str) -> None:
    assert re.search(rf"'[\w.]+\.{name}'", str(exc)), str(exc)


def _real_model_dict() -> dict:
    return torch.load(GOOD / "model.pt", map_location="cpu", weights_only=False)


def _write_zip_pickle(path: Path, payload: bytes, compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")


@pytest.mark.parametrize("payload_cls", list(PAYLOADS), ids=lambda c: c.__name__)
@pytest.mark.parametrize("where", ["top", "inside_real_model"])
def test_code_in_pickle_is_refused_and_not_run(tmp_path, payload_cls, where):
    marker = tmp_path / "marker"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    if where == "top":
        obj = payload_cls(marker)
    else:
        obj = _real_model_dict()
        obj["attr_dict"]["history_"] = payload_cls(marker)
    torch.save(obj, model_dir / "model.pt")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeModelFileError) as info:
        load_model(model_dir, device="cpu")
    assert_names_global(info.value, PAYLOADS[payload_cls])
    assert not marker.exists()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_code_in_any_pickle_protocol_is_refused(tmp_path, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "model.pt"
    _write_zip_pickle(path, pickle.dumps({"model_state_dict": {}, "attr_dict": OpenFile(marker)}, protocol=protocol))
    with pytest.raises(UnsafeModelFileError) as info:
        load_model(path, device="cpu")
    assert_names_global(info.value, "open")
    assert not marker.exists()


def test_crafted_file_really_runs_code_when_unpickled_unsafely(tmp_path):
    """Control: the payload used above does write the marker with an unrestricted loader."""
    marker = tmp_path / "marker"
    torch.save(OpenFile(marker), tmp_path / "model.pt")
    torch.load(tmp_path / "model.pt", weights_only=False).close()
    assert marker.exists()


def test_unknown_persistent_id_is_refused(tmp_path):
    class Pid(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "os") if obj == "x" else None

    buf = io.BytesIO()
    Pid(buf, protocol=2).dump({"a": "x"})
    path = tmp_path / "model.pt"
    _write_zip_pickle(path, buf.getvalue())
    with pytest.raises(UnsafeModelFileError):
        safe_torch_load(path)


def test_safe_loader_reads_a_real_model_like_torch():
    ours = safe_torch_load(GOOD / "model.pt")
    theirs = _real_model_dict()
    assert set(ours) == set(theirs)
    assert list(ours["model_state_dict"]) == list(theirs["model_state_dict"])
    for key, tensor in theirs["model_state_dict"].items():
        if not isinstance(tensor, torch.Tensor):
            continue
        assert ours["model_state_dict"][key].dtype == tensor.dtype
        torch.testing.assert_close(ours["model_state_dict"][key], tensor, rtol=0, atol=0)
    assert list(ours["var_names"]) == list(theirs["var_names"])


# ------------------------------------------------------------------ other model classes
@pytest.mark.parametrize("model_dir", REFUSED, ids=lambda p: p.name)
def test_other_model_classes_are_refused_by_name(model_dir):
    before = snapshot(model_dir)
    with pytest.raises(UnsupportedModelError) as info:
        load_model(model_dir, device="cpu")
    assert model_dir.name.lower() in str(info.value).lower()
    assert "SCVI, SCANVI" in str(info.value)
    assert snapshot(model_dir) == before


def test_refused_fixtures_exist():
    assert {p.name for p in REFUSED} >= {"LinearSCVI", "CondSCVI", "TOTALVI", "PeakVI"}


def test_good_model_loads_and_files_untouched():
    before = snapshot(GOOD)
    model = load_model(GOOD, device="cpu")
    assert model.model_name == "SCVI"
    assert model.path == GOOD / "model.pt"
    assert snapshot(GOOD) == before
    # The model.pt itself is accepted too.
    assert load_model(GOOD / "model.pt", device="cpu").file_sha256 == model.file_sha256


# ------------------------------------------------------------------ damaged files
def _damaged(tmp_path: Path, kind: str) -> Path:
    good = (GOOD / "model.pt").read_bytes()
    target = tmp_path / "model"
    target.mkdir()
    pt = target / "model.pt"
    if kind == "empty":
        pt.write_bytes(b"")
    elif kind == "truncated":
        pt.write_bytes(good[: len(good) // 2])
    elif kind == "truncated_tail":
        pt.write_bytes(good[:-200])
    elif kind == "text":
        pt.write_text("gene,count\nA,1\n")
    elif kind == "zip_without_data_pkl":
        with zipfile.ZipFile(pt, "w") as zf:
            zf.writestr("archive/other.txt", "hello")
    elif kind == "corrupt_bytes":
        data = bytearray(good)
        start = data.find(b"data.pkl") + 200
        data[start : start + 64] = bytes(64)
        pt.write_bytes(bytes(data))
    elif kind == "deflated_corrupt":
        with zipfile.ZipFile(pt, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("archive/data.pkl", pickle.dumps({"a": list(range(2000))}, protocol=2))
        data = bytearray(pt.read_bytes())
        data[60:90] = b"\xff" * 30
        pt.write_bytes(bytes(data))
    elif kind == "pickle_garbage":
        _write_zip_pickle(pt, b"\x80\x02}q\x00(X\x01\x00\x00\x00a")
    elif kind == "missing_tensor_data":
        with zipfile.ZipFile(GOOD / "model.pt") as src, zipfile.ZipFile(pt, "w") as dst:
            for item in src.infolist():
                if "/data/" not in item.filename:
                    dst.writestr(item, src.read(item.filename))
    elif kind == "plain_tensor":
        torch.save(torch.zeros(3), pt)
    elif kind == "state_dict_only":
        torch.save(_real_model_dict()["model_state_dict"], pt)
    elif kind == "mismatched_weights":
        saved = _real_model_dict()
        saved["model_state_dict"]["z_encoder.mean_encoder.weight"] = torch.zeros(3, 3)
        torch.save(saved, pt)
    elif kind == "missing_decoder_weight":
        saved = _real_model_dict()
        del saved["model_state_dict"]["decoder.px_decoder.fc_layers.Layer 0.0.weight"]
        torch.save(saved, pt)
    elif kind == "missing_px_r":
        saved = _real_model_dict()
        del saved["model_state_dict"]["px_r"]
        torch.save(saved, pt)
    elif kind == "wrong_gene_count":
        saved = _real_model_dict()
        saved["var_names"] = saved["var_names"][:-3]
        torch.save(saved, pt)
    else:
        raise AssertionError(kind)
    return target


DAMAGED = [
    "empty",
    "truncated",
    "truncated_tail",
    "text",
    "zip_without_data_pkl",
    "corrupt_bytes",
    "deflated_corrupt",
    "pickle_garbage",
    "missing_tensor_data",
    "plain_tensor",
    "state_dict_only",
    "mismatched_weights",
    "missing_decoder_weight",
    "missing_px_r",
    "wrong_gene_count",
]


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_file_gives_model_file_error(tmp_path, kind):
    target = _damaged(tmp_path, kind)
    before = snapshot(tmp_path)
    with pytest.raises(ModelFileError) as info:
        load_model(target, device="cpu")
    assert_clean_error(info.value)
    assert "model" in str(info.value).lower()
    assert snapshot(tmp_path) == before


def test_damaged_messages_say_what_is_wrong(tmp_path):
    for kind, words in {
        "empty": "empty",
        "truncated": "truncated",
        "text": "not a torch archive",
        "zip_without_data_pkl": "data.pkl",
        "missing_tensor_data": "incomplete",
        "state_dict_only": "model.save",
        "wrong_gene_count": "genes",
        "missing_px_r": "px_r",
    }.items():
        sub = tmp_path / kind
        sub.mkdir()
        with pytest.raises(ModelFileError, match=words):
            load_model(_damaged(sub, kind), device="cpu")


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model at"):
        load_model(tmp_path / "does-not-exist", device="cpu")


def test_directory_without_model_pt(tmp_path):
    (tmp_path / "adata.h5ad").write_bytes(b"x")
    before = snapshot(tmp_path)
    with pytest.raises(FileNotFoundError, match="has no model.pt"):
        load_model(tmp_path, device="cpu")
    assert snapshot(tmp_path) == before


def test_prefixed_model_file_in_directory_is_found(tmp_path):
    """``model.save(dir, prefix=...)`` writes ``<prefix>model.pt``; it is found in the directory."""
    shutil.copy(GOOD / "model.pt", tmp_path / "myprefix_model.pt")
    assert load_model(tmp_path, device="cpu").n_latent == 4
