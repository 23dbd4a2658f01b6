"""The base of a loaded model: its saved settings, its torch modules and its checked inputs.

:class:`BaseModel` builds the decoder and encoder from a :class:`~scvi_viz.spec.ModelSpec`,
loads their weights, and exposes the settings as read-only properties (scvi-tools'
``BaseModelClass``). The concerns built on it (decoding, encoding, differential expression,
...) are mixins in modules of their own; :class:`scvi_viz.model.ScviModel` joins them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from scvi_viz.errors import DecodeInputError, ModelFileError
from scvi_viz.model.inputs import DecoderInputs, PerRow, decoder_inputs, pick_device
from scvi_viz.nn import DecoderSCVI, Encoder
from scvi_viz.spec import Dispersion, LatentDistribution, Likelihood, ModelSpec


class BaseModel:
    """A saved scVI or scANVI model's settings and weights, in eval mode, with its checked inputs.

    The torch modules are never modified after loading, so one model can serve several
    threads (Streamlit sessions) at once: state that a mixin changes later (caches) is guarded
    by :attr:`_lock`.

    Its attributes and properties are documented on :class:`scvi_viz.model.ScviModel`.
    """

    def __init__(self, spec: ModelSpec, *, device: str | torch.device | None = None, path: Path | None = None):
        self.spec = spec
        self.path = path
        self.device = pick_device(device)
        state = spec.state_dict
        n_cont = len(spec.continuous_covariates)
        n_decoder_in = spec.n_latent + n_cont + spec.batch_embedding_dim

        with torch.device("meta"):  # shapes only: nothing is allocated until they match the file's
            self.decoder = DecoderSCVI(
                n_decoder_in,
                len(spec.genes),
                n_cat_list=spec.cat_list_sizes,
                n_layers=spec.n_layers,
                n_hidden=spec.n_hidden,
                inject_covariates=spec.deeply_inject_covariates,
                use_batch_norm=spec.use_batch_norm_decoder,
                use_layer_norm=spec.use_layer_norm_decoder,
                scale_activation="softplus" if spec.uses_size_factor else "softmax",
            )
            n_encoder_in = len(spec.genes) + (n_cont + spec.batch_embedding_dim) * spec.encode_covariates
            self.encoder = Encoder(
                n_encoder_in,
                spec.n_latent,
                n_cat_list=spec.cat_list_sizes if spec.encode_covariates else None,
                n_layers=spec.n_layers,
                n_hidden=spec.n_hidden,
                distribution=spec.latent_distribution,
                inject_covariates=spec.deeply_inject_covariates,
                use_batch_norm=spec.use_batch_norm_encoder,
                use_layer_norm=spec.use_layer_norm_encoder,
                return_dist=True,
            )
        self._load("decoder.", self.decoder)
        self._load("z_encoder.", self.encoder)

        px_r = state.get("px_r")
        self._log_theta = None if px_r is None else px_r.to(self.device, torch.float32)
        emb = state.get("_embeddings_dict.batch.weight")
        self._batch_embedding = None if emb is None else emb.to(self.device, torch.float32)
        self._lock = threading.Lock()  # guards what the mixins cache (see their modules)
        self._gene_index = {g: i for i, g in enumerate(spec.genes)}

    def _load(self, prefix: str, module: torch.nn.Module) -> None:
        sub = {k[len(prefix):]: v for k, v in self.spec.state_dict.items() if k.startswith(prefix)}
        expected = module.state_dict()
        problems = [f"missing {k}" for k in expected if k not in sub]
        problems += [f"unexpected {k}" for k in sub if k not in expected]
        problems += [
            f"{k} is {tuple(sub[k].shape)} in the file but {tuple(v.shape)} by the settings"
            for k, v in expected.items() if k in sub and tuple(sub[k].shape) != tuple(v.shape)
        ]
        problems += [f"{k} has NaN or infinite values" for k, v in sub.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if problems:
            raise ModelFileError(
                f"The saved weights under '{prefix}' do not match the architecture in the model's settings "
                f"({len(problems)} problem(s): {'; '.join(problems[:4])}{' ...' if len(problems) > 4 else ''}). "
                "The file is damaged or comes from a modified scvi-tools."
            )
        module.to_empty(device=self.device)
        module.load_state_dict(sub, strict=True)
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)

    # ----------------------------------------------------------------- settings
    @property
    def model_name(self) -> str:
        """``"SCVI"`` or ``"SCANVI"``."""
        return self.spec.model_name

    @property
    def scvi_version(self) -> str:
        """The scvi-tools version that saved the model."""
        return self.spec.scvi_version

    @property
    def genes(self) -> list[str]:
        """Gene names in the decoder's output order (a new list: changing it changes nothing)."""
        return list(self.spec.genes)

    @property
    def n_genes(self) -> int:
        """Number of genes the decoder outputs."""
        return len(self.spec.genes)

    @property
    def n_latent(self) -> int:
        """Number of latent dimensions."""
        return self.spec.n_latent

    @property
    def dispersion(self) -> Dispersion:
        """How theta varies: ``"gene"``, ``"gene-batch"``, ``"gene-label"`` or ``"gene-cell"``."""
        return self.spec.dispersion

    @property
    def gene_likelihood(self) -> Likelihood:
        """``"zinb"``, ``"nb"`` or ``"poisson"``."""
        return self.spec.gene_likelihood

    @property
    def latent_distribution(self) -> LatentDistribution:
        """``"normal"`` or ``"ln"`` (logistic normal)."""
        return self.spec.latent_distribution

    @property
    def batch_key(self) -> str | None:
        """The ``obs`` column registered as batch, or ``None``."""
        return self.spec.batch_key

    @property
    def batches(self) -> list[str]:
        """Batch categories in the model's order (one, ``"0"``, without a batch key) (a new list: changing it changes nothing)."""
        return list(self.spec.batches)

    @property
    def labels_key(self) -> str | None:
        """The labels column, or ``None``."""
        return self.spec.labels_key

    @property
    def labels(self) -> list[str]:
        """Label categories, without scANVI's unlabeled category (a new list: changing it changes nothing)."""
        return list(self.spec.labels)

    @property
    def categorical_covariates(self) -> dict[str, list[str]]:
        """Extra categorical covariates: name -> categories, in setup order (a new dict)."""
        return {k: list(v) for k, v in self.spec.categorical_covariates.items()}

    @property
    def continuous_covariates(self) -> list[str]:
        """Extra continuous covariate names, in setup order (a new list: changing it changes nothing)."""
        return list(self.spec.continuous_covariates)

    @property
    def uses_size_factor(self) -> bool:
        """Whether ``library_size`` is a size factor (``size_factor_key`` models) rather than total counts."""
        return self.spec.uses_size_factor

    @property
    def file_sha256(self) -> str:
        """SHA-256 of the ``model.pt`` that was loaded."""
        return self.spec.file_sha256

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.model_name}, {self.n_genes} genes, {self.n_latent} latent dims, "
            f"dispersion={self.dispersion!r}, likelihood={self.gene_likelihood!r}, device={self.device})"
        )

    # ----------------------------------------------------------- checked inputs
    def gene_indices(self, genes: Sequence[str]) -> list[int]:
        """Positions of ``genes`` in :attr:`genes`; raises ``DecodeInputError`` naming unknown ones."""
        missing = [g for g in genes if g not in self._gene_index]
        if missing:
            raise DecodeInputError(
                f"{len(missing)} gene(s) are not in the model: {', '.join(map(str, missing[:5]))}"
                f"{' ...' if len(missing) > 5 else ''}."
            )
        return [self._gene_index[g] for g in genes]

    def _inputs(
        self,
        z: Any,
        *,
        library_size: Any = 1e4,
        batch: PerRow | None = None,
        label: PerRow | None = None,
        categorical: Mapping[str, PerRow] | None = None,
        continuous: Mapping[str, Any] | None = None,
    ) -> DecoderInputs:
        """The decoder's inputs for ``z`` and the keyword arguments of ``decode``, checked."""
        return decoder_inputs(self.spec, self._batch_embedding, self.device, z, library_size=library_size,
                              batch=batch, label=label, categorical=categorical, continuous=continuous)
