"""The engine: a trained scVI / scANVI model that decodes, encodes and reasons about its posterior.

One module per concern, each a mixin over :class:`~scvi_viz.model.base.BaseModel` (as
scvi-tools splits ``BaseModelClass``, ``VAEMixin`` and ``RNASeqMixin``):

- :mod:`~scvi_viz.model.inputs`: every argument checked, and turned into the decoder's tensors;
- :mod:`~scvi_viz.model.threads`: one CPU thread for calls on a few points;
- :mod:`~scvi_viz.model.base`: saved settings, torch modules and weights;
- :mod:`~scvi_viz.model.decoding`: ``decode``, ``decode_mean`` (:class:`Decoded`);
- :mod:`~scvi_viz.model.jacobian`: ``log_scale_jacobian``, what each latent direction does to every gene;
- :mod:`~scvi_viz.model.browser`: ``browser_weights``, the decoder as the browser runs it;
- :mod:`~scvi_viz.model.hidden`: ``decode_genes`` and the hidden-layer cache behind it;
- :mod:`~scvi_viz.model.encoding`: ``encode``, ``latent_posterior``, ``sample_latent``;
- :mod:`~scvi_viz.model.de`: ``differential_expression``;
- :mod:`~scvi_viz.model.predictive`: ``posterior_predictive_sample``;
- :mod:`~scvi_viz.model.scvi_model`: :class:`ScviModel`, which joins them, and :func:`load_model`.

A new model method goes into the module of its concern, or a new mixin module joined in
:class:`ScviModel`; its arguments are checked with :mod:`~scvi_viz.model.inputs`.
"""

from scvi_viz.model.decoding import DEFAULT_CHUNK, MAX_DECODE_BYTES, Decoded
from scvi_viz.model.hidden import HIDDEN_CACHE_BYTES, HIDDEN_CACHE_ENTRIES
from scvi_viz.model.inputs import MAX_CHUNK
from scvi_viz.model.scvi_model import ScviModel, load_model

__all__ = [
    "DEFAULT_CHUNK",
    "HIDDEN_CACHE_BYTES",
    "HIDDEN_CACHE_ENTRIES",
    "MAX_CHUNK",
    "MAX_DECODE_BYTES",
    "Decoded",
    "ScviModel",
    "load_model",
]
