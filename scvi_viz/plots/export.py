"""Exports for reports: static images (kaleido + an installed Chromium), HTML, CSV, ZIP bundles."""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from scvi_viz.errors import ScviVizError

STATIC_FORMATS = ("png", "svg", "pdf")
FORMATS = (*STATIC_FORMATS, "html", "csv")
"""What :func:`chart_file` writes: images (kaleido), standalone HTML, and the numbers as CSV."""
MIME = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
    "zip": "application/zip",
    "json": "application/json",
}
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROME_HINT = (
    "PNG, SVG and PDF are drawn by kaleido, which needs Chrome or Chromium on the server "
    "(Debian/Ubuntu: `sudo apt-get install chromium`). HTML and CSV downloads work without it."
)
_lock = threading.Lock()
_server_started = False


class StaticExportUnavailable(ScviVizError):
    """No Chrome/Chromium is installed, so kaleido cannot draw PNG, SVG or PDF."""


def safe_filename(text: str) -> str:
    """A file-name stem from free text (letters, digits, ``-`` and ``_``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return stem[:80] or "figure"


def toolbar_config(filename: str) -> dict:
    """Plotly ``config`` whose camera button saves ``filename``.png at twice the screen size."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": safe_filename(filename), "scale": 2},
    }


def browser_path() -> str | None:
    """The Chrome/Chromium kaleido will use, or ``None`` when none is installed."""
    explicit = os.environ.get("BROWSER_PATH")
    if explicit and os.path.isfile(explicit):
        return explicit
    return next((p for p in map(shutil.which, _BROWSERS) if p), None)


def static_export_available() -> bool:
    """Whether PNG/SVG/PDF can be drawn here."""
    return browser_path() is not None


def figure_image(fig: go.Figure, fmt: str, *, scale: float = 2.0) -> bytes:
    """Draw ``fig`` as PNG, SVG or PDF bytes.

    A kaleido server is started on first use and reused, so later images take a fraction
    of a second.

    Raises
    ------
    StaticExportUnavailable
        If no Chrome/Chromium is installed (see :data:`CHROME_HINT`).
    """
    global _server_started
    if fmt not in STATIC_FORMATS:
        raise ValueError(f"format must be one of {STATIC_FORMATS}, not {fmt!r}")
    if not static_export_available():
        raise StaticExportUnavailable(CHROME_HINT)
    import kaleido

    with _lock:
        if not _server_started:
            kaleido.start_sync_server(silence_warnings=True)
            _server_started = True
        width = fig.layout.width or 1000
        height = fig.layout.height or 500
        return pio.to_image(fig, format=fmt, width=width, height=height, scale=scale if fmt == "png" else 1)


def stop_static_export() -> None:
    """Stop the kaleido server :func:`figure_image` started (its Chromium), if it runs.

    Left to the interpreter's exit, its shutdown can print a traceback after everything else.
    """
    global _server_started
    with _lock:
        if _server_started:
            import kaleido

            kaleido.stop_sync_server(silence_warnings=True)
            _server_started = False


def figure_html(fig: go.Figure) -> bytes:
    """A standalone HTML page of ``fig`` (plotly.js embedded: opens offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False}).encode()


def table_csv(table: pd.DataFrame, *, caption: Mapping[str, str] | None = None) -> bytes:
    """CSV of ``table`` with its index; ``caption`` lines go first as ``# key: value`` comments."""
    head = "".join(f"# {k}: {v}\n" for k, v in (caption or {}).items())
    return (head + table.to_csv(float_format="%.6g")).encode()


@dataclass(frozen=True)
class Chart:
    """A figure and the numbers behind it, under one name (used for file names).

    The figure is built by ``build`` on first use, and ``numbers`` may be a function that builds
    the table on first use too, so charts that are only exported cost nothing on a rerun until a
    download asks for them (a map's table has a row per cell).
    """

    name: str
    build: Callable[[], go.Figure]
    numbers: pd.DataFrame | Callable[[], pd.DataFrame]
    caption: Mapping[str, str] | None = None

    @cached_property
    def figure(self) -> go.Figure:
        """The figure (built once)."""
        return self.build()

    @cached_property
    def table(self) -> pd.DataFrame:
        """The numbers behind the figure (built once)."""
        return self.numbers() if callable(self.numbers) else self.numbers


def chart_file(chart: Chart, fmt: str) -> bytes:
    """``chart`` as one file: PNG, SVG or PDF (kaleido), standalone HTML, or the CSV of its numbers.

    Raises
    ------
    StaticExportUnavailable
        For PNG, SVG or PDF when no Chrome/Chromium is installed.
    """
    if fmt in STATIC_FORMATS:
        return figure_image(chart.figure, fmt)
    if fmt == "html":
        return figure_html(chart.figure)
    if fmt == "csv":
        return table_csv(chart.table, caption=chart.caption)
    raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")


def report_bundle(charts: list[Chart], state_json: str, tables: Mapping[str, pd.DataFrame] | None = None) -> bytes:
    """One ZIP with each chart's SVG, PNG and PDF, its CSV, extra ``tables`` as CSV, and ``state.json``.

    Each CSV starts with ``#`` lines saying what its numbers are; the same lines are also in a
    ``<name>.about.txt`` beside it, for spreadsheet programs that read comment lines as rows.
    Without Chromium the ZIP holds each chart's HTML instead of images and a ``README.txt``
    that says why. Files unpack readable by everyone (mode 0644).
    """
    buffer = io.BytesIO()
    static = static_export_available()
    stems: set[str] = set()

    def unique(name: str) -> str:
        stem, k = safe_filename(name), 2
        while stem in stems:
            stem, k = f"{safe_filename(name)}_{k}", k + 1
        stems.add(stem)
        return stem

    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def write(name: str, data: bytes | str) -> None:
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)

        for chart in charts:
            stem = unique(chart.name)
            for fmt in STATIC_FORMATS if static else ("html",):
                write(f"{stem}.{fmt}", chart_file(chart, fmt))
            write(f"{stem}.csv", table_csv(chart.table, caption=chart.caption))
            if chart.caption:
                write(f"{stem}.about.txt", "".join(f"{k}: {v}\n" for k, v in chart.caption.items()))
        for name, table in (tables or {}).items():
            write(f"{unique(name)}.csv", table_csv(table))
        write("state.json", state_json)
        if not static:
            write("README.txt", CHROME_HINT + "\n")
    return buffer.getvalue()
