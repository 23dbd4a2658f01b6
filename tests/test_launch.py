"""The package and its command: pyproject metadata, the app's settings as ``streamlit run`` flags,
``scvi-viz launch``'s checks (a one-line error and exit code 2), and the two ways the app is told
which files to open (the launch command's environment, an address that names files)."""

from __future__ import annotations

import re
import shutil
import socket
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from streamlit.testing.v1 import AppTest
from test_app import APP, run

import scvi_viz
from scvi_viz.cli import main
from scvi_viz.io import sources, view_link
from scvi_viz.launch import (  # tomllib, or tomli on Python 3.10
    SETTINGS,
    Files,
    LaunchError,
    app_dir,
    check_model,
    locate_files,
    server_environment,
    settings_flags,
    streamlit_command,
    tomllib,
)

ROOT = Path(__file__).resolve().parents[1]
TOTALVI = ROOT / "tests" / "fixtures" / "refused" / "TOTALVI"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ the package
def test_dependencies_are_requirements_txt():
    wanted = [Requirement(line.strip()) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    declared = [Requirement(text) for text in _pyproject()["project"]["dependencies"]]
    assert [str(r) for r in declared] == [str(r) for r in wanted]
    assert all(str(r.specifier).startswith(">=") for r in declared), "each dependency has a lower bound"


def test_project_metadata():
    project = _pyproject()["project"]
    assert project["name"] == "scvi-viz"
    assert project["requires-python"] == ">=3.10"
    assert project["scripts"] == {"scvi-viz": "scvi_viz.cli:main"}
    assert project["dynamic"] == ["version"] and re.fullmatch(r"\d+\.\d+\.\d+", scvi_viz.__version__)
    included = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert included == {"app.py": "scvi_viz/_app/app.py", "pages": "scvi_viz/_app/pages",
                        ".streamlit/config.toml": "scvi_viz/_app/.streamlit/config.toml"}


# ---------------------------------------------------------------------------- the settings
def test_every_setting_becomes_a_flag():
    flags = settings_flags(ROOT / SETTINGS)
    settings = tomllib.loads((ROOT / SETTINGS).read_text())
    assert len(flags) == sum(len(options) for options in settings.values())
    assert "--server.headless=true" in flags
    assert "--server.maxUploadSize=2048" in flags
    assert "--runner.postScriptGC=false" in flags
    assert "--client.toolbarMode=minimal" in flags


def test_a_setting_no_flag_can_carry_is_refused(tmp_path):
    (tmp_path / "config.toml").write_text('[server]\ncorsAllowedOrigins = ["a", "b"]\n')
    with pytest.raises(LaunchError, match="server.corsAllowedOrigins"):
        settings_flags(tmp_path / "config.toml")
    (tmp_path / "bad.toml").write_text("[server\n")
    with pytest.raises(LaunchError, match="cannot be read"):
        settings_flags(tmp_path / "bad.toml")


def test_the_command_runs_the_clones_app_with_its_settings():
    assert app_dir() == ROOT  # a clone: no scvi_viz/_app
    command = streamlit_command(port=8600, host="127.0.0.1")
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    assert command[-2:] == ["--server.address=127.0.0.1", "--server.port=8600"]
    assert set(settings_flags(ROOT / SETTINGS)) <= set(command)
    assert not any(c.startswith("--server.port") for c in streamlit_command())


def test_server_environment_names_root_and_files(tmp_path):
    files = Files(tmp_path, "m", "m/adata.h5ad")
    env = server_environment(tmp_path, files, base={"KEEP": "1", sources.OPEN_DATA_ENV: "stale"})
    assert env == {"KEEP": "1", sources.DATA_DIR_ENV: str(tmp_path), sources.OPEN_MODEL_ENV: "m",
                   sources.OPEN_DATA_ENV: "m/adata.h5ad"}
    assert sources.OPEN_DATA_ENV not in server_environment(tmp_path, None, base={sources.OPEN_DATA_ENV: "stale"})


# ----------------------------------------------------------------------------- the files
@pytest.fixture
def saved(tmp_path) -> Path:
    """The demo as ``model.save(dir, save_anndata=True)`` writes it."""
    folder = tmp_path / "runs" / "pbmc"
    folder.mkdir(parents=True)
    shutil.copy(sources.DEMO_MODEL / "model.pt", folder / "model.pt")
    shutil.copy(sources.DEMO_DATA, folder / "adata.h5ad")
    return folder


def test_a_saved_folder_opens_its_own_data(saved):
    assert locate_files(saved) == Files(saved.resolve(), ".", "adata.h5ad")
    assert locate_files(saved / "model.pt") == Files(saved.resolve(), ".", "adata.h5ad")
    assert check_model(locate_files(saved)) == "SCVI"


def test_data_elsewhere_take_the_common_folder_or_the_root_given(saved, tmp_path):
    other = tmp_path / "runs" / "cells.h5ad"
    shutil.copy(sources.DEMO_DATA, other)
    assert locate_files(saved, other) == Files((tmp_path / "runs").resolve(), "pbmc", "cells.h5ad")
    assert locate_files(saved, other, data_root=tmp_path) == Files(tmp_path.resolve(), "runs/pbmc", "runs/cells.h5ad")
    with pytest.raises(LaunchError, match="outside the data root"):
        locate_files(saved, other, data_root=saved)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing", "no such folder"),
    (lambda d: d, "has no model.pt"),
])
def test_a_folder_that_is_no_model_is_refused(tmp_path, make, message):
    with pytest.raises(LaunchError, match=message):
        locate_files(make(tmp_path))


def test_missing_or_wrong_data_are_refused(saved, tmp_path):
    (saved / "adata.h5ad").unlink()
    with pytest.raises(LaunchError, match="has no adata.h5ad"):
        locate_files(saved)
    with pytest.raises(LaunchError, match="no such file"):
        locate_files(saved, tmp_path / "nothing.h5ad")
    (tmp_path / "cells.csv").write_text("a,b\n")
    with pytest.raises(LaunchError, match="neither an .h5ad file nor a .zarr store"):
        locate_files(saved, tmp_path / "cells.csv")


def test_a_model_file_linking_outside_the_root_is_refused(saved, tmp_path):
    inside = tmp_path / "root" / "model"
    inside.mkdir(parents=True)
    (inside / "model.pt").symlink_to(saved / "model.pt")
    shutil.copy(sources.DEMO_DATA, inside / "adata.h5ad")
    with pytest.raises(sources.PathOutsideRootError, match="outside the data root"):
        locate_files(inside, data_root=tmp_path / "root")


# ------------------------------------------------------------------------------ the command
def _fails_with_one_line(capsys, argv: list[str], *, says: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scvi-viz launch: ") and says in err, err


def test_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: scvi-viz") and "launch" in out and "prepare" in out


def test_launch_refuses_a_wrong_path_with_one_line(capsys):
    _fails_with_one_line(capsys, ["launch", "/no/such/dir"], says="/no/such/dir: no such folder")


def test_launch_refuses_a_model_it_does_not_decode_with_one_line(capsys):
    if not TOTALVI.is_dir():
        pytest.skip("TOTALVI fixture not built")
    _fails_with_one_line(capsys, ["launch", str(TOTALVI), str(sources.DEMO_DATA)], says="TOTALVI")


def test_launch_refuses_a_busy_port_with_one_line(capsys, saved):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _fails_with_one_line(capsys, ["launch", str(saved), "--port", str(port)], says=f"port {port} of 127.0.0.1 is in use")


def test_launch_refuses_a_data_root_that_is_no_folder(capsys, tmp_path):
    _fails_with_one_line(capsys, ["launch", "--data-root", str(tmp_path / "nowhere")], says="not a folder")


# ---------------------------------------------------------------- how the app is told the files
def _app_with_root(monkeypatch, root: Path) -> AppTest:
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(root))
    return AppTest.from_file(APP, default_timeout=120)


def test_a_new_session_opens_the_files_launch_named(monkeypatch, saved):
    files = locate_files(saved, data_root=saved.parents[1])
    for name, value in server_environment(files.root, files, base={}).items():
        monkeypatch.setenv(name, value)
    at = run(AppTest.from_file(APP, default_timeout=120))
    assert not at.error
    assert at.session_state["source"] == "Files on this server"
    assert any("runs/pbmc + runs/pbmc/adata.h5ad" in m.value for m in at.markdown)


def test_data_deeper_than_the_list_goes_still_open(monkeypatch, tmp_path):
    deep = tmp_path / "a" / "b" / "c" / "d" / "e" / "f"
    deep.mkdir(parents=True)
    shutil.copy(sources.DEMO_MODEL / "model.pt", deep / "model.pt")
    shutil.copy(sources.DEMO_DATA, deep / "adata.h5ad")
    rel = str(deep.relative_to(tmp_path))
    assert f"{rel}/adata.h5ad" not in sources.list_h5ad_files(tmp_path)
    monkeypatch.setenv(sources.OPEN_MODEL_ENV, rel)
    monkeypatch.setenv(sources.OPEN_DATA_ENV, f"{rel}/adata.h5ad")
    at = run(_app_with_root(monkeypatch, tmp_path))
    assert not at.error
    assert any(f"{rel} + {rel}/adata.h5ad" in m.value for m in at.markdown)


def test_an_address_that_names_files_opens_them(monkeypatch, saved):
    at = _app_with_root(monkeypatch, saved)
    at.query_params.update(view_link.files_query(".", "adata.h5ad"))
    run(at)
    assert not at.error
    assert any("pbmc + adata.h5ad" in m.value for m in at.markdown), "the root's own name stands for '.'"
    assert at.query_params["v"] == view_link.VERSION, "the address then holds the whole view"


def test_files_links_read_back():
    query = view_link.files_query("m", "m/adata.h5ad")
    assert view_link.files_from_query(query) == {"kind": "server", "model": "m", "data": "m/adata.h5ad"}
    assert view_link.files_from_query({**query, "z": "0", "v": "2", "n": "1"}) is None  # a view: from_query reads it
    assert view_link.files_from_query({"src": "demo"}) is None
    assert view_link.files_from_query({"src": "server", "sm": ""}) is None
