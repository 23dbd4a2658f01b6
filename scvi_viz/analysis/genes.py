"""Genes across all cells: which to show first, and one gene's decoded expression per cell."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scvi_viz.analysis.workspace import Workspace

OVERLAY_LIBRARY_SIZE = 1e4
"""Softmax models' per-cell overlays are in counts per this many (a library of 10,000 counts)."""
SET_OVERLAY_CHUNK = 16_384
"""Cells whose gene-set expression is computed at once."""
VARIABLE_GENES_CELLS = 500
"""Cells (evenly spaced) whose decoded expression ranks the default genes."""


def overlay_unit(ws: Workspace) -> str:
    """What :func:`gene_overlay` returns, in words: counts per 10,000, or the size-factor scale."""
    return "decoded scale" if ws.model.uses_size_factor else f"decoded counts per {OVERLAY_LIBRARY_SIZE:,.0f}"


@dataclass(frozen=True)
class OverlayBasis:
    """What one gene's decoded expression of every cell is computed from, built once per workspace.

    Attributes
    ----------
    hidden
        Each cell's decoder hidden layer at its own z and covariates, ``(n_cells, n_hidden)``.
    log_normaliser
        Each cell's softmax log-normaliser (``None`` for size-factor models).
    """

    hidden: torch.Tensor
    log_normaliser: torch.Tensor | None


def overlay_basis(ws: Workspace, rows: np.ndarray | None = None) -> OverlayBasis:
    """:class:`OverlayBasis` of the workspace's cells, or of the cells ``rows`` alone (a map's drawn
    sample: an atlas's map is coloured from its drawn cells). The normalisers come from ``prepare``
    when it kept them.
    """
    model = ws.model
    latent = ws.latent if rows is None else ws.latent[rows]
    kwargs = (ws.covariates if rows is None else ws.covariates.rows(rows)).decode_kwargs()
    log_norm = None
    if not model.uses_size_factor:
        if ws.prepared is not None and ws.prepared.log_normaliser is not None:
            log_norm = ws.prepared.log_normaliser if rows is None else ws.prepared.log_normaliser[rows]
        else:
            log_norm = model.softmax_log_normaliser(latent, **kwargs)
    return OverlayBasis(model.hidden_layer(latent, **kwargs),
                        None if log_norm is None else torch.from_numpy(np.array(log_norm, dtype=np.float32)))


def gene_overlay(ws: Workspace, gene: str, basis: OverlayBasis | None = None) -> np.ndarray:
    """Decoded expression of ``gene`` for every cell, with its own z and covariates.

    With a ``basis`` (:func:`overlay_basis`, kept by the app) this is one dot product per cell.

    Returns
    -------
    numpy.ndarray
        Per cell, ``scale * 10,000`` (expected counts in a library of 10,000) for softmax
        models, or the softplus scale of size-factor models (see :func:`overlay_unit`).
    """
    basis = basis or overlay_basis(ws)
    scale = ws.model.scale_from_hidden(basis.hidden, [gene], log_normaliser=basis.log_normaliser)[:, 0].cpu().numpy()
    return scale if ws.model.uses_size_factor else scale * OVERLAY_LIBRARY_SIZE


def gene_set_overlay(ws: Workspace, gene_set: list[str], basis: OverlayBasis | None = None) -> np.ndarray:
    """The mean over ``gene_set`` of each cell's decoded expression (in :func:`overlay_unit`, as :func:`gene_overlay`)."""
    basis = basis or overlay_basis(ws)
    mean = np.empty(basis.hidden.shape[0])
    for start in range(0, len(mean), SET_OVERLAY_CHUNK):  # cells x genes stays small for atlases and long sets
        rows = slice(start, start + SET_OVERLAY_CHUNK)
        norm = None if basis.log_normaliser is None else basis.log_normaliser[rows]
        scale = ws.model.scale_from_hidden(basis.hidden[rows], list(gene_set), log_normaliser=norm)
        mean[rows] = scale.double().mean(dim=1).cpu().numpy()
    return mean if ws.model.uses_size_factor else mean * OVERLAY_LIBRARY_SIZE


def variable_genes(ws: Workspace, n: int = 6) -> list[str]:
    """The ``n`` genes whose decoded expression varies most across the cells.

    Ranked by the variance of ``log1p(scale * 10,000)`` over up to
    :data:`VARIABLE_GENES_CELLS` evenly spaced cells, each decoded at its own latent point and
    covariates; the pages chart these before the user picks genes.
    """
    cells = np.linspace(0, ws.n_cells - 1, min(VARIABLE_GENES_CELLS, ws.n_cells)).astype(int)
    out = ws.model.decode(ws.latent[cells], library_size=OVERLAY_LIBRARY_SIZE, **ws.covariates.rows(cells).decode_kwargs())
    log_scale = np.log1p(out.scale.cpu().numpy() * OVERLAY_LIBRARY_SIZE)
    order = np.argsort(-log_scale.var(axis=0))[:n]
    names = ws.model.spec.genes
    return [names[i] for i in order]
