"""Shared test settings."""

import os
import tempfile

import plotly.graph_objects as go
import pytest
import torch

from scvi_viz.plots import style

# Workspaces keep what they compute in a cache folder: the tests use one of their own, never ~/.cache.
os.environ.setdefault("SCVI_VIZ_CACHE_DIR", tempfile.mkdtemp(prefix="scvi-viz-test-cache-"))

# The tests decode tiny tensors: extra threads only add overhead, most of all on a busy CI box.
torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False, help="also run the tests marked slow (longer fuzzing)")


def pytest_sessionfinish(session, exitstatus):
    """Stop kaleido's Chromium before pytest prints its summary line: stopped at exit instead, it
    can print a traceback after that line (CI's log must end with it)."""
    from scvi_viz.plots.export import stop_static_export

    stop_static_export()


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow or -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


class _ValidatingPlotly:
    """``plotly.graph_objects`` as ``scvi_viz.plots.style`` sees it under test: ``style.build_figure``
    skips plotly's property validation for speed, so here every figure it builds is validated."""

    def __getattr__(self, name):
        return getattr(go, name)

    @staticmethod
    def Figure(spec, **kwargs):  # noqa: N802 (plotly's name)
        fig = go.Figure(spec, **kwargs)
        go.Figure(fig.to_dict())  # raises ValueError naming a property plotly does not have
        return fig


@pytest.fixture(autouse=True)
def _figures_are_validated(monkeypatch):
    monkeypatch.setattr(style, "go", _ValidatingPlotly())
