"""``ModelSpec``: the settings of a saved scVI/scANVI model, as plain checked values.

:func:`scvi_viz.io.model_file.read_model_spec` builds one from a ``model.save()`` folder;
:class:`scvi_viz.model.ScviModel` builds its torch modules from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch

Dispersion = Literal["gene", "gene-batch", "gene-label", "gene-cell"]
"""How the NB inverse dispersion theta varies: per gene, per gene and batch, per gene and label, per cell."""
Likelihood = Literal["zinb", "nb", "poisson"]
"""The count distribution of the model (``gene_likelihood``)."""
LatentDistribution = Literal["normal", "ln"]
"""The latent posterior: Gaussian, or logistic normal (``softmax`` of a Gaussian)."""
BatchRepresentation = Literal["one-hot", "embedding"]
"""How the batch enters the networks."""

DISPERSIONS: tuple[str, ...] = ("gene", "gene-batch", "gene-label", "gene-cell")
LIKELIHOODS: tuple[str, ...] = ("zinb", "nb", "poisson")


@dataclass(frozen=True)
class ModelSpec:
    """Everything about a saved model that decoding and encoding need.

    Attributes are read from the saved file; nothing is guessed from the data. The value is
    shared by every session that has the model open and is never changed: sequences are
    tuples, and ``categorical_covariates`` and ``state_dict`` are only read.
    """

    model_name: str
    scvi_version: str
    genes: tuple[str, ...]
    n_latent: int
    n_hidden: int
    n_layers: int
    dispersion: Dispersion
    gene_likelihood: Likelihood
    latent_distribution: LatentDistribution
    batch_key: str | None
    batches: tuple[str, ...]
    labels_key: str | None
    labels: tuple[str, ...]
    categorical_covariates: Mapping[str, tuple[str, ...]]
    continuous_covariates: tuple[str, ...]
    layer: str | None
    size_factor_key: str | None
    batch_representation: BatchRepresentation
    batch_embedding_dim: int
    encode_covariates: bool
    deeply_inject_covariates: bool
    use_batch_norm_decoder: bool
    use_layer_norm_decoder: bool
    use_batch_norm_encoder: bool
    use_layer_norm_encoder: bool
    log_variational: bool
    use_observed_lib_size: bool
    file_sha256: str
    state_dict: Mapping[str, torch.Tensor] = field(repr=False)
    unlabeled_category: str | None = None
    """scANVI's category for cells without a label (not in ``labels``)."""
    minified_fields: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Where minified data keep what replaces the counts, as the saved registry says:
    ``"latent_qzm"``, ``"latent_qzv"``, ``"observed_lib_size"`` and ``"minify_type"`` ->
    ``(attribute, key)``, e.g. ``("obsm", "scvi_latent_qzm")``. Empty for models saved before
    ``minify_adata()``."""

    @property
    def n_batch(self) -> int:
        """Number of batch categories (1 when the model has no batch key)."""
        return len(self.batches)

    @property
    def cat_list_sizes(self) -> list[int]:
        """Category counts in the order the decoder's ``n_cat_list`` expects."""
        extra = [len(v) for v in self.categorical_covariates.values()]
        return extra if self.batch_representation == "embedding" else [self.n_batch, *extra]

    @property
    def uses_size_factor(self) -> bool:
        """Whether ``library_size`` multiplies a softplus scale (a size factor), not a softmax."""
        return self.size_factor_key is not None
