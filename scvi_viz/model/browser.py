"""The decoder as the browser runs it: its weights and settings in one binary message.

The Explore page decodes a moving point in the browser (``ui/components/live_decoder.js``), so
that charts follow the hand without a server round trip. :meth:`BrowserDecoderMixin.browser_weights`
writes the decoder's own float32 weights, unchanged, with the settings that say how to combine
them; the browser folds the covariates of the point into the first layer's bias (and each
layer's, when covariates are injected into every layer) and eval-mode batch norm into the
linear layers, then computes in float64.

Format (``scvi-viz-decoder/1``): :func:`scvi_viz.arrays.pack_arrays` of the settings and the
float32 weights (read them back with :func:`scvi_viz.arrays.unpack_arrays`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from scvi_viz.arrays import pack_arrays
from scvi_viz.model.decoding import DecodeMixin

FORMAT = "scvi-viz-decoder/1"
MAX_BROWSER_WEIGHT_BYTES = 64 * 1024**2
"""Largest decoder sent to a browser (a 30,000-gene ZINB model with 128 hidden units is 31 MB)."""
BATCH_NORM_EPS = 1e-3
LAYER_NORM_EPS = 1e-5


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


class BrowserDecoderMixin(DecodeMixin):
    """``browser_weights`` and ``browser_decoder_refusal``: the decoder for the browser's live walk."""

    def _browser_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        spec, decoder = self.spec, self.decoder
        fc = decoder.px_decoder
        arrays: dict[str, np.ndarray] = {}
        layers = []
        for i, block in enumerate(fc.fc_layers):
            linear = next(m for m in block if isinstance(m, nn.Linear))
            norm = next((m for m in block if isinstance(m, nn.BatchNorm1d)), None)
            layer_norm = next((m for m in block if isinstance(m, nn.LayerNorm)), None)
            injected = fc.n_cov if fc.inject_into_layer(i) else 0
            arrays[f"layer{i}.weight"] = _f32(linear.weight)
            arrays[f"layer{i}.bias"] = _f32(linear.bias)
            if norm is not None:
                for part in ("weight", "bias", "running_mean", "running_var"):
                    arrays[f"layer{i}.bn.{part}"] = _f32(getattr(norm, part))
            layers.append({"n_in": linear.in_features - injected, "injected": injected, "n_out": linear.out_features,
                           "batch_norm": norm is not None, "batch_norm_eps": float(norm.eps) if norm is not None else None,
                           "layer_norm": layer_norm is not None,
                           "layer_norm_eps": float(layer_norm.eps) if layer_norm is not None else None})
        heads = ["px_scale"]
        arrays["px_scale.weight"] = _f32(decoder.px_scale_decoder[0].weight)
        arrays["px_scale.bias"] = _f32(decoder.px_scale_decoder[0].bias)
        if spec.gene_likelihood != "poisson" and spec.dispersion == "gene-cell":
            heads.append("px_r")
            arrays["px_r.weight"], arrays["px_r.bias"] = _f32(decoder.px_r_decoder.weight), _f32(decoder.px_r_decoder.bias)
        if spec.gene_likelihood == "zinb":
            heads.append("px_dropout")
            arrays["px_dropout.weight"] = _f32(decoder.px_dropout_decoder.weight)
            arrays["px_dropout.bias"] = _f32(decoder.px_dropout_decoder.bias)
        if spec.gene_likelihood != "poisson" and spec.dispersion != "gene-cell":
            arrays["log_theta"] = _f32(self._log_theta)  # (genes,), or (genes, batches / labels)
        if self._batch_embedding is not None:
            arrays["batch_embedding"] = _f32(self._batch_embedding)
        header = {
            "format": FORMAT,
            "n_latent": spec.n_latent,
            "n_genes": len(spec.genes),
            "n_hidden": spec.n_hidden,
            "n_continuous": len(spec.continuous_covariates),
            "batch_embedding_dim": spec.batch_embedding_dim,
            # The decoder's categorical inputs, in order, as category counts; 0 = ignored (one category).
            "n_cat_list": list(fc.n_cat_list),
            # Which covariate each entry of n_cat_list is (the decoder's cat_list; extra entries are ignored).
            "cat_order": (["batch"] if self._batch_embedding is None else [])
            + [f"categorical{j}" for j in range(len(spec.categorical_covariates))] + ["label"],
            "layers": layers,
            "scale_activation": decoder.scale_activation,
            "dispersion": spec.dispersion,
            "gene_likelihood": spec.gene_likelihood,
            "heads": heads,
        }
        return header, arrays

    def browser_weights(self) -> bytes:
        """The decoder's weights and settings for the browser (see this module's docstring).

        Returns
        -------
        bytes
            The message; its size is about ``4 x n_genes x n_hidden`` bytes per output head
            (scale, and dropout for ZINB, and ``px_r`` for gene-cell dispersion).
        """
        return pack_arrays(*self._browser_arrays())

    def browser_decoder_refusal(self) -> str | None:
        """``None`` when the browser can decode this model live; else why not, in a sentence."""
        heads = 1 + (self.gene_likelihood == "zinb") + (self.dispersion == "gene-cell" and self.gene_likelihood != "poisson")
        size = heads * self.n_genes * (self.spec.n_hidden + 1) * 4
        if size > MAX_BROWSER_WEIGHT_BYTES:
            return (f"the decoder's weights are {size / 1e6:.0f} MB, more than the "
                    f"{MAX_BROWSER_WEIGHT_BYTES / 1e6:.0f} MB a browser is sent.")
        return None
