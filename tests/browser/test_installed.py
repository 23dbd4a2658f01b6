"""The package as a user installs it: a wheel built from this tree into a temporary folder, its
files listed, installed into a fresh virtual environment, and its ``scvi-viz launch`` serving the
demo from another folder, drawn in Chromium with the app's Streamlit settings.

The venv sees this interpreter's packages (``--system-site-packages``, and a ``.pth`` file when
this interpreter is itself a venv) and the wheel goes in with ``pip install --no-deps --no-index``:
nothing is downloaded. Building uses the installed hatchling when there is one (``pip install -r
requirements-test.txt`` brings it), else pip fetches it.
"""

from __future__ import annotations

import importlib.util
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from streamlit_server import StreamlitServer
from test_browser import assert_no_exception, chart, wait_explore_ready

ROOT = Path(__file__).resolve().parents[2]
N_CELLS = 700
START_TIMEOUT_S = 120


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would make Python import this tree instead."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    return {**env, **extra}


def _top_level(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` of this tree, written to a temporary folder; nothing is left in the tree."""
    out = tmp_path_factory.mktemp("wheel")
    before = (_top_level(ROOT), _top_level(ROOT / "scvi_viz"))
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(out), str(ROOT)],
                          cwd=out, env=_clean_env(PIP_NO_INPUT="1"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (_top_level(ROOT), _top_level(ROOT / "scvi_viz")) == before, "building wrote into the source tree"
    wheels = list(out.glob("scvi_viz-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


def test_the_wheel_holds_the_app_and_every_file_it_needs(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        app = archive.read("scvi_viz/_app/app.py")
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    package = {str(p.relative_to(ROOT)) for p in (ROOT / "scvi_viz").rglob("*.py") if "__pycache__" not in p.parts}
    data = {"scvi_viz/demo/model/model.pt", "scvi_viz/demo/pbmc68k.h5ad", "scvi_viz/ui/assets/icon.png"}
    components = {str(p.relative_to(ROOT)) for ext in ("js", "css") for p in (ROOT / "scvi_viz/ui/components").glob(f"*.{ext}")}
    the_app = {"scvi_viz/_app/app.py", "scvi_viz/_app/.streamlit/config.toml",
               *(f"scvi_viz/_app/pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))}
    assert len(components) >= 5 and len(the_app) >= 7
    missing = (package | data | components | the_app) - names
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert not [n for n in names if n.startswith(("tests/", "docs/", "benchmarks/")) or "__pycache__" in n]
    assert app == (ROOT / "app.py").read_bytes()
    assert "scvi-viz = scvi_viz.cli:main" in entry_points
    assert "Name: scvi-viz" in metadata and "Requires-Python: >=3.10" in metadata
    assert "Requires-Dist: streamlit>=1.67" in metadata and "Requires-Dist: torch>=2.2" in metadata


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (and this interpreter's packages)."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)], check=True, timeout=300)
    python = env_dir / "bin" / "python"
    if sys.prefix != sys.base_prefix:  # a venv's --system-site-packages sees the base Python, not this venv
        purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        Path(purelib, "_parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # --ignore-installed: the venv sees this interpreter's packages, scvi-viz among them when scripts/test.sh
    # installed it; the wheel must still go into the venv.
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
                          env=_clean_env(PIP_NO_INPUT="1"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return env_dir


def test_the_installed_command_runs_from_any_folder(venv, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = str(venv / "bin" / "scvi-viz")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=elsewhere, env=_clean_env(), capture_output=True, text=True, timeout=300)

    where = run(str(venv / "bin" / "python"), "-c",
                "import scvi_viz, scvi_viz.launch as l; print(scvi_viz.__file__); print(l.app_dir())")
    package_file, app_dir = where.stdout.split()
    assert Path(package_file).is_relative_to(venv) and not Path(package_file).is_relative_to(ROOT), where.stdout
    assert Path(app_dir) == Path(package_file).parent / "_app"
    helped = run(command, "--help")
    assert helped.returncode == 0 and "launch" in helped.stdout and "prepare" in helped.stdout
    refused = run(command, "launch", "/no/such/dir")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "/no/such/dir" in refused.stderr, refused
    assert "Traceback" not in refused.stderr
    assert list(elsewhere.iterdir()) == []


def test_scvi_viz_launch_serves_the_demo_from_another_folder(venv, new_page, tmp_path):
    elsewhere = tmp_path / "elsewhere"  # no .streamlit/ here: the settings must come with the package
    elsewhere.mkdir()
    server = StreamlitServer(tmp_path / "launch.log", cwd=elsewhere,
                             env={**_clean_env(), "SCVI_VIZ_CACHE_DIR": str(tmp_path / "cache")},
                             command=lambda port: [str(venv / "bin" / "scvi-viz"), "launch", "--port", str(port)])
    try:
        server.wait_healthy(START_TIMEOUT_S)
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline")
        if cmdline.exists():  # Linux: the launcher became the server (exec), running the installed app.py
            args = cmdline.read_bytes().decode().split("\0")
            assert any(a.endswith("scvi_viz/_app/app.py") and Path(a).is_relative_to(venv) for a in args), args
            assert "--server.address=127.0.0.1" in args and "--runner.postScriptGC=false" in args
        page = new_page()
        page.goto(server.url)
        wait_explore_ready(page)
        cells = sum(len(t["x"]) for t in chart(page, "Cells in")["traces"] if t["name"] != "empty space")
        assert cells == N_CELLS
        assert_no_exception(page)
        icon = page.evaluate("() => document.querySelector('link[rel~=\"icon\"]').href")
        response = page.request.get(icon)
        assert response.ok and response.body()[:8] == b"\x89PNG\r\n\x1a\n", icon
        page.locator('[data-testid="stSidebar"] [role="radiogroup"]').get_by_text("Upload", exact=True).click()
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInstructions"]').first
        uploader.wait_for(timeout=60_000)  # the click's rerun may not have started when the page first looks idle
        assert "2GB per file" in uploader.inner_text(), "server.maxUploadSize = 2048 from the shipped settings"
        assert list(elsewhere.iterdir()) == [], "nothing is written into the folder it was started from"
    finally:
        server.stop()
    assert server.proc.returncode is not None


def test_the_package_scripts_test_sh_installed(tmp_path):
    """``scripts/test.sh`` installs the package (not editable): its copy runs from another folder."""
    if os.environ.get("SCVI_VIZ_EXPECT_INSTALLED") != "1":
        pytest.skip("run by scripts/test.sh, which installs the package first")
    done = subprocess.run([sys.executable, "-c", "import scvi_viz.launch as l; print(l.app_dir())"], cwd=tmp_path,
                          env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    app_dir = Path(done.stdout.strip())
    assert app_dir.name == "_app" and not app_dir.is_relative_to(ROOT) and (app_dir / "app.py").is_file()
    command = Path(sysconfig.get_path("scripts")) / "scvi-viz"  # where pip put this interpreter's scripts
    helped = subprocess.run([str(command), "--help"], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True,
                            timeout=300)
    assert helped.returncode == 0 and "launch" in helped.stdout
