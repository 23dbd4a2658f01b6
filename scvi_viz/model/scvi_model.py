"""``ScviModel``: the mixins of every concern joined into one model, and :func:`load_model`."""

from __future__ import annotations

from pathlib import Path

import torch

from scvi_viz.io.model_file import read_model_spec, resolve_model_file
from scvi_viz.model.browser import BrowserDecoderMixin
from scvi_viz.model.de import DifferentialExpressionMixin
from scvi_viz.model.hidden import HiddenLayerMixin
from scvi_viz.model.jacobian import JacobianMixin
from scvi_viz.model.predictive import PredictiveMixin


class ScviModel(HiddenLayerMixin, DifferentialExpressionMixin, PredictiveMixin, BrowserDecoderMixin, JacobianMixin):
    """A trained scVI or scANVI model, read from a ``model.save()`` directory.

    Use :func:`load_model` to create one. Each concern lives in a module of its own
    (:mod:`scvi_viz.model`'s docstring lists them); this class only joins them. The torch
    modules are in eval mode and are never modified after loading, so one model can serve
    several threads (Streamlit sessions) at once: the only state that changes, the
    hidden-layer cache of :meth:`decode_genes`, is guarded by a lock.

    The model's settings are read-only properties (:attr:`genes`, :attr:`batches`, ...);
    :attr:`spec` holds all of them, as read from the file.

    Attributes
    ----------
    spec
        Every saved setting (:class:`scvi_viz.spec.ModelSpec`).
    path
        The ``model.pt`` that was read.
    device
        Where decoding runs.
    decoder
        The loaded :class:`scvi_viz.nn.DecoderSCVI`.
    encoder
        The loaded ``z_encoder`` (:class:`scvi_viz.nn.Encoder`).
    """


def load_model(path: str | Path, *, device: str | torch.device | None = None) -> ScviModel:
    """Load a scVI or scANVI model saved with scvi-tools' ``model.save(dir)``.

    The pickle in ``model.pt`` is read with an allowlist, so no code from the file runs.
    scvi-tools does not need to be installed.

    Parameters
    ----------
    path
        The directory that ``model.save(dir)`` wrote, or the ``model.pt`` inside it.
    device
        ``"cuda"``, ``"cpu"`` or a :class:`torch.device`; default CUDA when available.

    Returns
    -------
    ScviModel
        The model, ready to decode and encode.

    Raises
    ------
    FileNotFoundError
        If there is no model at ``path``.
    ModelFileError
        If the file is damaged or not a saved scvi-tools model.
    UnsafeModelFileError
        If the file asks to run code.
    UnsupportedModelError
        If the model's decoder is not ``DecoderSCVI`` (TOTALVI, CondSCVI, ...).

    Examples
    --------
    >>> model = load_model("my_scvi_model/")  # doctest: +SKIP
    >>> out = model.decode(np.zeros(model.n_latent), library_size=1e4)  # doctest: +SKIP
    """
    return ScviModel(read_model_spec(path), device=device, path=resolve_model_file(path))
