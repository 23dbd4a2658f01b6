"""Start the app: find its files, turn its Streamlit settings into flags, check the model and
data it should open first, and run (or stop) the server.

The app is the same ``app.py`` and ``pages/`` wherever it runs. In a clone they sit at the
repository root beside ``.streamlit/config.toml``; an installed wheel carries copies of the
three in ``scvi_viz/_app/`` (see ``pyproject.toml``). Streamlit reads ``.streamlit/config.toml``
only from the folder it is started in, so :func:`settings_flags` turns every option of the
shipped file into a ``--section.option=value`` flag of ``streamlit run``: the installed app runs
with the same settings from any folder. Nothing here imports Streamlit: the server is
``python -m streamlit run`` in a process of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scvi_viz.errors import ScviVizError
from scvi_viz.io import sources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_HOST = "127.0.0.1"
PACKAGE_DIR = Path(__file__).resolve().parent
INSTALLED_APP_DIR = PACKAGE_DIR / "_app"
"""Where a wheel puts ``app.py``, ``pages/`` and ``.streamlit/config.toml``."""
SETTINGS = Path(".streamlit") / "config.toml"
HEALTH_PATH = "/_stcore/health"


class LaunchError(ScviVizError):
    """The app cannot be started as asked (a missing file, a busy port, a server that did not start)."""


def app_dir() -> Path:
    """The folder with ``app.py``, ``pages/`` and ``.streamlit/config.toml``.

    The installed copy (``scvi_viz/_app``) when there is one, else the clone this package was
    imported from.

    Raises
    ------
    LaunchError
        If neither holds the app (an installation that lost its files).
    """
    for folder in (INSTALLED_APP_DIR, PACKAGE_DIR.parent):
        if (folder / "app.py").is_file() and (folder / "pages").is_dir() and (folder / SETTINGS).is_file():
            return folder
    raise LaunchError(f"The app's files (app.py, pages/, {SETTINGS}) are not in {INSTALLED_APP_DIR}: "
                      "install scvi-viz again (pip install --force-reinstall scvi-viz).")


def _flag_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise LaunchError(f"{where} in the app's Streamlit settings is a {type(value).__name__}; "
                      "only true/false, numbers and text can be passed to streamlit run.")


def settings_flags(path: str | Path) -> list[str]:
    """Every option of a Streamlit ``config.toml`` as a ``--section.option=value`` flag.

    Parameters
    ----------
    path
        The settings file (the app's ``.streamlit/config.toml``).

    Raises
    ------
    LaunchError
        If the file cannot be read, or holds a value that a flag cannot carry (a list or table).
    """
    try:
        with open(path, "rb") as handle:
            settings = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LaunchError(f"The app's Streamlit settings {path} cannot be read: {exc}") from exc
    flags = []
    for section, options in settings.items():
        if not isinstance(options, dict):
            raise LaunchError(f"{section} in {path} is not a [section] of options.")
        flags += [f"--{section}.{name}={_flag_value(value, f'{section}.{name}')}" for name, value in options.items()]
    return flags


@dataclass(frozen=True)
class Files:
    """A model folder and its data, as paths under a data root.

    Attributes
    ----------
    root
        The data root: the app can open nothing outside it.
    model, data
        The model folder and the ``.h5ad`` file or ``.zarr`` store, relative to ``root``
        (``"."`` when the model folder is the root itself).
    """

    root: Path
    model: str
    data: str


def _relative(path: Path, root: Path) -> str | None:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return None


def locate_files(model_dir: str | Path, data: str | Path | None = None, *,
                 data_root: str | Path | None = None) -> Files:
    """Check that a model folder and its data exist and say where they are under a data root.

    Parameters
    ----------
    model_dir
        A ``model.save(dir)`` folder, or the ``model.pt`` in it.
    data
        The cells' ``.h5ad`` file or ``.zarr`` store; default the folder's ``adata.h5ad``
        (written by ``model.save(dir, save_anndata=True)``).
    data_root
        The folder the app may open files under; default the folder that holds both.

    Raises
    ------
    LaunchError
        If a path does not exist, is not what it should be, or lies outside ``data_root``.
    """
    model = Path(model_dir).expanduser()
    if model.is_file() and model.name.endswith("model.pt"):
        model = model.parent
    if not model.exists():
        raise LaunchError(f"{model_dir}: no such folder (give the folder that scvi-tools' model.save(dir) wrote).")
    if not model.is_dir() or not any(model.glob("*model.pt")):
        raise LaunchError(f"{model_dir} is not a saved model: it has no model.pt "
                          "(give the folder that scvi-tools' model.save(dir) wrote).")
    model = model.resolve()
    if data is None:
        cells = model / "adata.h5ad"
        if not cells.is_file():
            raise LaunchError(f"{model_dir} has no adata.h5ad (model.save(dir, save_anndata=True) writes one): "
                              "give the cells' .h5ad file or .zarr store after the model folder.")
    else:
        cells = Path(data).expanduser()
        if not cells.exists():
            raise LaunchError(f"{data}: no such file.")
        if not (cells.suffix == ".h5ad" and cells.is_file()) and not (cells.suffix == ".zarr" and cells.is_dir()):
            raise LaunchError(f"{data} is neither an .h5ad file nor a .zarr store.")
    cells = cells.resolve()
    if data_root is None:
        root = Path(os.path.commonpath([model, cells.parent]))
        if root == Path(root.anchor):
            raise LaunchError(f"{model_dir} and {data} share no folder but {root}: give a data root that holds both "
                              "(scvi-viz launch --data-root DIR, or view(..., data_root=DIR)).")
    else:
        root = Path(data_root).expanduser().resolve()
        if not root.is_dir():
            raise LaunchError(f"{data_root}: the data root is not a folder.")
    relative = []
    for path, given in ((model, model_dir), (cells, data if data is not None else cells)):
        inside = _relative(path, root)
        if inside is None:
            raise LaunchError(f"{given} is outside the data root {root}: the app opens only files under it.")
        sources.resolve_in_root(inside, root)  # a model.pt that links outside is refused here, as the app does
        relative.append(inside)
    return Files(root, *relative)


def check_model(files: Files) -> str:
    """Read the model with the safe loader (no code from the file runs); returns its class name.

    Raises
    ------
    ScviVizError
        If the model is damaged, unsafe, or of a kind scvi-viz does not decode.
    FileNotFoundError
        If its ``model.pt`` is gone.
    """
    from scvi_viz.io.model_file import read_model_spec  # imports torch: only when a model is checked

    return read_model_spec(files.root / files.model).model_name


def port_is_free(port: int, host: str = DEFAULT_HOST) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, port))
    except OSError:
        return False
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port of ``host`` that no one listens on now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def streamlit_command(*, host: str = DEFAULT_HOST, port: int | None = None, python: str = sys.executable) -> list[str]:
    """``python -m streamlit run APP`` with the app's settings as flags, on ``host`` (and ``port``).

    Without a port Streamlit takes 8501, or the next free port after it.
    """
    folder = app_dir()
    command = [python, "-m", "streamlit", "run", str(folder / "app.py"), *settings_flags(folder / SETTINGS),
               f"--server.address={host}"]
    if port is not None:
        command.append(f"--server.port={port}")
    return command


def server_environment(root: Path, files: Files | None = None, *,
                       base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: ``base`` (default this process's) with its data root and the
    files a new session opens first (none: the demo)."""
    env = dict(os.environ if base is None else base)
    env[sources.DATA_DIR_ENV] = str(root)
    env.pop(sources.OPEN_MODEL_ENV, None)
    env.pop(sources.OPEN_DATA_ENV, None)
    if files is not None:
        env[sources.OPEN_MODEL_ENV], env[sources.OPEN_DATA_ENV] = files.model, files.data
    return env


class AppServer:
    """The app served by ``streamlit run`` in a process group of its own, on ``host:port``.

    Parameters
    ----------
    root
        The data root: files the app may open.
    files
        What a new session opens first; default the built-in demo.
    host
        The address to listen on (default 127.0.0.1: this machine only).
    port
        Default: a free port.
    die_with_parent
        On Linux, the server is ended when the thread that started it dies (a notebook kernel
        that crashed or was killed, whose ``atexit`` never ran); elsewhere it is ignored.

    Raises
    ------
    LaunchError
        If the port is taken.
    """

    def __init__(self, root: Path, files: Files | None = None, *, host: str = DEFAULT_HOST,
                 port: int | None = None, die_with_parent: bool = False) -> None:
        if port is not None and not port_is_free(port, host):
            raise LaunchError(f"Port {port} of {host} is in use: choose another port, or leave it out for a free one.")
        self.root = Path(root)
        self.port = free_port(host) if port is None else port
        self.url = f"http://{host}:{self.port}"
        self._folder = Path(tempfile.mkdtemp(prefix="scvi-viz-server-"))
        self.log_path = self._folder / "streamlit.log"
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                streamlit_command(host=host, port=self.port), env=server_environment(self.root, files),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=os.name == "posix",
                preexec_fn=_parent_death_signal() if die_with_parent else None)

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self._proc.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's output while it starts (empty once it answered)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = 120) -> None:
        """Wait until the server answers on ``/_stcore/health``.

        Raises
        ------
        LaunchError
            If it stopped, or did not answer within ``timeout`` seconds (it is stopped then).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                tail = self.log_tail()
                self.stop()
                raise LaunchError(f"The app's server stopped (exit code {self._proc.returncode}). Its last words:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=2) as response:
                    if response.status == 200:
                        # Started: the log was for saying why it would not. Its folder goes now (the
                        # server writes on into the unlinked file), so that none is left behind
                        # even when this process is killed.
                        shutil.rmtree(self._folder, ignore_errors=True)
                        return
            except OSError:
                pass
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise LaunchError(f"The app's server did not answer within {timeout:.0f} s. Its last words:\n{tail}")

    def stop(self) -> None:
        """End the server's process group (SIGTERM, then SIGKILL after 10 s) and remove its log."""
        if self.running:
            try:
                if os.name == "posix":
                    os.killpg(self._proc.pid, signal.SIGTERM)
                else:  # pragma: no cover - Windows
                    self._proc.terminate()
                self._proc.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                if os.name == "posix":
                    os.killpg(self._proc.pid, signal.SIGKILL)
                else:  # pragma: no cover - Windows
                    self._proc.kill()
                self._proc.wait(timeout=10)
        shutil.rmtree(self._folder, ignore_errors=True)


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` that has the kernel send the child SIGTERM when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def set_signal() -> None:  # runs in the child, between fork and exec
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_signal


def run_in_foreground(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run the server in this terminal until it stops (Ctrl+C); returns its exit code.

    On POSIX this process becomes the server (``exec``): signals reach Streamlit directly.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(command[0], list(command), dict(env))
    try:  # pragma: no cover - Windows
        return subprocess.call(list(command), env=dict(env))
    except KeyboardInterrupt:  # pragma: no cover
        return 130
