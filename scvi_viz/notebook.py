"""``scvi_viz.view()``: the app beside a notebook, on a saved model folder or an in-memory
scvi-tools model.

An in-memory ``SCVI`` / ``SCANVI`` model is written with scvi-tools' own ``model.save()`` (and its
AnnData with ``write_h5ad``) into a private temporary folder of this Python process; the app then
reads it with the safe loader, like any file. scvi-tools is imported only for such a model.

The server is the app's own (``streamlit run app.py``, see :mod:`scvi_viz.launch`) on 127.0.0.1,
one per data root and port: a second ``view()`` of files under the same root reuses it and opens
them by its address (``?src=server&sm=MODEL&sd=DATA``). It stops with :meth:`View.stop`, when
Python exits, and on Linux also when the process that started it dies without exiting (a
killed notebook kernel).
"""

from __future__ import annotations

import atexit
import html
import os
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scvi_viz.io.model_file import resolve_model_file
from scvi_viz.io.view_link import files_query
from scvi_viz.launch import AppServer, Files, check_model, locate_files

SCRATCH_PREFIX = "scvi-viz-notebook-"
DEFAULT_HEIGHT = 900
"""Pixels of the inline frame: the Explore page's map and latent walk fit without scrolling."""


@dataclass
class _Served:
    """A server this process started, and the temporary folders whose models it serves."""

    server: AppServer
    owned: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        self.server.stop()
        for folder in self.owned:
            shutil.rmtree(folder, ignore_errors=True)
        self.owned.clear()


_SERVED: list[_Served] = []
_SCRATCH: list[Path] = []  # the private folder for in-memory models (made on first use)


def _scratch() -> Path:
    """This process's private temporary folder (``mkdtemp``: its owner only) for in-memory models."""
    if not _SCRATCH or not _SCRATCH[0].is_dir():
        _SCRATCH[:] = [Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX)).resolve()]
    return _SCRATCH[0]


def _stop_all() -> None:
    for served in list(_SERVED):
        served.stop()
    _SERVED.clear()
    for folder in _SCRATCH:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_stop_all)


class View:
    """The app showing one model and its data, served on this machine.

    In Jupyter it shows inline (an IFrame, through ``_repr_html_``); elsewhere its text is its
    address. Returned by :func:`view`.

    Attributes
    ----------
    url
        The page's address: the app with the model and data open.
    files
        The model folder and data, relative to the server's data root.
    """

    def __init__(self, served: _Served, files: Files, *, label: str, height: int) -> None:
        self._served = served
        self.files = files
        self.label = label
        self.height = height
        self.url = f"{served.server.url}/?{urllib.parse.urlencode(files_query(files.model, files.data))}"

    @property
    def running(self) -> bool:
        """Whether its server is still running."""
        return self._served.server.running

    def stop(self) -> None:
        """Stop the server (every view it serves ends with it) and remove the temporary copies
        of in-memory models it served."""
        self._served.stop()
        if self._served in _SERVED:
            _SERVED.remove(self._served)

    def __repr__(self) -> str:
        state = "open at" if self.running else "stopped; it was at"
        return f"scvi-viz view of {self.label}: {state} {self.url}"

    def _repr_html_(self) -> str:
        if not self.running:
            return f"<p>{html.escape(repr(self))}</p>"
        url = html.escape(self.url, quote=True)
        return (f'<iframe src="{url}" width="100%" height="{int(self.height)}" style="border: 1px solid #ddd" '
                f'title="scvi-viz: {html.escape(self.label, quote=True)}"></iframe>'
                f'<p style="font-size: smaller">scvi-viz: {html.escape(self.label)} · '
                f'<a href="{url}" target="_blank" rel="noopener">open in a new tab</a> · <code>.stop()</code> ends '
                'the server</p>')


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _write_anndata(adata: Any, folder: Path) -> None:
    if not callable(getattr(adata, "write_h5ad", None)):
        raise TypeError(f"adata must be an AnnData or the path of an .h5ad file, not {type(adata).__name__}.")
    adata.write_h5ad(folder / "adata.h5ad")


def _save_model(model: Any, adata: Any, folder: Path) -> str:
    """Write an in-memory scvi-tools model (and its cells) with scvi-tools' own ``save``; returns its class."""
    try:
        from scvi.model.base import BaseModelClass
    except ImportError as exc:
        raise TypeError(f"view() takes a model.save() folder or an scvi-tools model; a {type(model).__name__} "
                        "is neither (and scvi-tools is not installed).") from exc
    if not isinstance(model, BaseModelClass):
        raise TypeError(f"view() takes a model.save() folder or an scvi-tools SCVI / SCANVI model, "
                        f"not a {type(model).__name__}.")
    if adata is not None and _is_path(adata):
        raise TypeError("With an in-memory model, give its AnnData itself (or None for the one it was set up "
                        "with), not a path: or save the model with model.save(dir) and pass both paths.")
    model.save(str(folder), overwrite=True, save_anndata=adata is None)
    if adata is not None:
        _write_anndata(adata, folder)
    return type(model).__name__


def _files(model_or_path: Any, adata: Any, data_root: str | Path | None) -> tuple[Files, Path | None, str]:
    """Where the model and data to show are (written first when in memory), the temporary folder
    written (or ``None``), and a label."""
    if _is_path(model_or_path) and (adata is None or _is_path(adata)):
        files = locate_files(model_or_path, adata, data_root=data_root)
        return files, None, f"{model_or_path} with {files.root / files.data}"
    folder = Path(tempfile.mkdtemp(prefix="model-", dir=_scratch()))
    try:
        if _is_path(model_or_path):  # a saved model with an in-memory AnnData: both go to the folder
            shutil.copyfile(resolve_model_file(model_or_path), folder / "model.pt")
            _write_anndata(adata, folder)
            label = f"{model_or_path} with an in-memory AnnData"
        else:
            label = f"an in-memory {_save_model(model_or_path, adata, folder)} model"
        return Files(_scratch(), folder.name, f"{folder.name}/adata.h5ad"), folder, label
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _server(root: Path, port: int | None) -> _Served:
    """A running server of this process for ``root`` (on ``port``, when given), or a new one."""
    for served in list(_SERVED):
        if not served.server.running:
            served.stop()
            _SERVED.remove(served)
        elif served.server.root == root and port in (None, served.server.port):
            return served
    served = _Served(AppServer(root, port=port, die_with_parent=True))
    try:
        served.server.wait_healthy()
    except BaseException:
        served.stop()
        raise
    _SERVED.append(served)
    return served


def view(model_or_path: Any, adata: Any = None, *, port: int | None = None, data_root: str | Path | None = None,
         height: int = DEFAULT_HEIGHT) -> View:
    """Show a model in the app, from a notebook or any Python session.

    Parameters
    ----------
    model_or_path
        A folder written by scvi-tools' ``model.save(dir)`` (or its ``model.pt``), or an
        in-memory scvi-tools ``SCVI`` / ``SCANVI`` model.
    adata
        The cells: the path of an ``.h5ad`` file or ``.zarr`` store, or an AnnData. Default: the
        folder's ``adata.h5ad`` (``save_anndata=True``), or the AnnData the in-memory model was
        set up with.
    port
        Port of 127.0.0.1 to serve on; default a free one (a server this process already runs
        for the same folder is reused).
    data_root
        For a model folder and data given as paths: the folder whose files the app's sidebar may
        open; default the folder that holds both. In-memory models and AnnData are written to a
        private temporary folder, which is their data root.
    height
        Height of the inline frame in Jupyter, in pixels.

    Returns
    -------
    View
        Shows the app inline in Jupyter; its text is the address. ``.stop()`` ends the server.

    Raises
    ------
    LaunchError
        If a path does not exist, the port is taken, or the server does not start.
    ScviVizError
        If the model is one scvi-viz refuses (damaged, unsafe, or not decoded by ``DecoderSCVI``).
    TypeError
        If ``model_or_path`` is neither a path nor an scvi-tools model.

    Examples
    --------
    >>> scvi_viz.view("my_model/")  # doctest: +SKIP
    >>> v = scvi_viz.view(model, adata); v.stop()  # doctest: +SKIP
    """
    files, written, label = _files(model_or_path, adata, data_root)
    try:
        check_model(files)
        served = _server(files.root, port)
    except BaseException:
        if written is not None:
            shutil.rmtree(written, ignore_errors=True)
        raise
    if written is not None:
        served.owned.append(written)
    return View(served, files, label=label, height=height)
