"""The model's decoder and the drawn cells, sent to the browser once (``live_decoder.js``).

The payload is one message (:func:`scvi_viz.arrays.pack_arrays`): a header with the key, the
gene names and the cells' settings, and as arrays the decoder's own message
(``ScviModel.browser_weights``, bytes) and the cells' arrays. Streamlit sends a message of 10
KB or more once per connection and refers to it afterwards, and the browser keeps what it
parsed by key, so a rerun costs neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from scvi_viz.arrays import pack_arrays
from scvi_viz.ui.components import script

_COMPONENT = st.components.v2.component("scvi_viz_live_decoder", js=script("messages.js", "live_decoder.js"))
PAYLOAD_FORMAT = "scvi-viz-live/1"


def pack_payload(*, key: str, weights: bytes, genes: Sequence[str], cells: Mapping[str, Any],
                 arrays: Mapping[str, np.ndarray]) -> bytes:
    """One message with the decoder's ``weights``, the gene names and the cells' ``arrays``."""
    return pack_arrays({"format": PAYLOAD_FORMAT, "key": key, "genes": list(genes), "cells": dict(cells)},
                       {"weights": np.frombuffer(weights, dtype=np.uint8), **arrays})


def live_decoder(*, key: str, payload: bytes) -> None:
    """Load ``payload`` (:func:`pack_payload`) in the browser, where the latent walk and the map's
    hover preview find it under ``key``; a payload already loaded is not parsed again."""
    _COMPONENT(key=f"live_decoder_{key}", data=payload, height=1)
