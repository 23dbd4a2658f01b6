"""Shared test settings."""

import os
import tempfile

import pytest
import torch

# Workspaces keep what they compute in a cache folder: the tests use one of their own, never ~/.cache.
os.environ.setdefault("SCVI_VIZ_CACHE_DIR", tempfile.mkdtemp(prefix="scvi-viz-test-cache-"))

# The tests decode tiny tensors: extra threads only add overhead, most of all on a busy CI box.
torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False, help="also run the tests marked slow (longer fuzzing)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow or -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
