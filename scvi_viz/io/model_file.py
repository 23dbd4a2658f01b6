"""Read a directory written by scvi-tools' ``model.save()`` into plain, checked settings.

Nothing here imports scvi-tools: the file is read with :func:`safe_torch_load` and the
architecture is rebuilt from the saved registry, init parameters and state-dict shapes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scvi_viz.errors import ModelFileError, UnsupportedModelError
from scvi_viz.io.safe_pickle import safe_torch_load
from scvi_viz.spec import LIKELIHOODS, ModelSpec

SUPPORTED_MODELS = ("SCVI", "SCANVI")

_DECODER_FAMILIES = {
    "TOTALVI": "DecoderTOTALVI (RNA and protein)",
    "MULTIVI": "a joint RNA/ATAC decoder",
    "PEAKVI": "an accessibility decoder",
    "CONDSCVI": "a Gaussian-mixture decoder (FCLayers with a Gaussian likelihood)",
    "LINEARSCVI": "LinearDecoderSCVI (a linear decoder)",
    "AUTOZI": "a zero-inflation decoder with its own Bernoulli prior",
    "DESTVI": "a spatial deconvolution decoder",
    "MRVI": "a JAX decoder",
    "JAXSCVI": "a JAX decoder",
    "SCAR": "an ambient-RNA decoder",
    "CONTRASTIVEVI": "two salient/background decoders",
}


def resolve_model_file(path: str | Path) -> Path:
    """Return the ``model.pt`` inside ``path`` (a ``model.save`` directory) or ``path`` itself.

    Raises
    ------
    FileNotFoundError
        If there is no such file or directory, or the directory has no ``model.pt``.
    """
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*model.pt"))
        if not candidates:
            raise FileNotFoundError(
                f"{path} has no model.pt. Point to the folder that scvi-tools' model.save(dir) wrote."
            )
        return candidates[0]
    if not path.exists():
        raise FileNotFoundError(f"No model at {path}.")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flat_init_params(init_params: dict[str, Any]) -> dict[str, Any]:
    # scvi-tools stores {"non_kwargs": {...}, "kwargs": {"model_kwargs": {...}}}; older
    # versions stored one flat dict whose dict values are the kwargs groups.
    if "non_kwargs" in init_params:
        flat = dict(init_params["non_kwargs"])
        groups = init_params.get("kwargs", {})
    else:
        flat = {k: v for k, v in init_params.items() if not isinstance(v, dict)}
        groups = {k: v for k, v in init_params.items() if isinstance(v, dict)}
    for group in groups.values():
        if isinstance(group, dict):
            flat.update(group)
    return flat


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in np.asarray(values).ravel().tolist())


def _norm_where(value: Any, default: str, part: str) -> bool:
    if isinstance(value, bool):  # very old releases took a bool
        return value
    value = default if value is None else value
    return value in (part, "both")


def read_model_spec(path: str | Path) -> ModelSpec:
    """Read and check a saved scvi-tools model.

    Parameters
    ----------
    path
        A directory written by ``model.save(dir)``, or the ``model.pt`` inside it.

    Returns
    -------
    ModelSpec
        The model's settings and its state dict (CPU tensors).

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ModelFileError
        If the file is not a saved scvi-tools model or is damaged.
    UnsafeModelFileError
        If the pickle asks to run code outside the allowlist.
    UnsupportedModelError
        If the model's decoder is not ``DecoderSCVI`` (TOTALVI, CondSCVI, LinearSCVI, ...).
    """
    model_file = resolve_model_file(path)
    saved = safe_torch_load(model_file)
    if not isinstance(saved, dict) or not {"model_state_dict", "attr_dict"} <= set(saved):
        raise ModelFileError(
            f"{model_file.name} is a torch file but not a model saved by scvi-tools 0.15 or newer "
            "(it lacks model_state_dict/attr_dict). Load it in scvi-tools and call model.save(dir)."
        )
    attr = saved["attr_dict"]
    registry = attr.get("registry_") or {}
    model_name = str(registry.get("model_name", "unknown"))
    state = {k: v for k, v in saved["model_state_dict"].items() if isinstance(v, torch.Tensor)}

    if model_name.upper() not in SUPPORTED_MODELS or "decoder.px_scale_decoder.0.weight" not in state:
        family = _DECODER_FAMILIES.get(model_name.upper(), "a decoder other than DecoderSCVI")
        raise UnsupportedModelError(
            f"This is a {model_name} model, which uses {family}. scvi-viz decodes models built on "
            f"scvi-tools' DecoderSCVI: {', '.join(SUPPORTED_MODELS)}."
        )

    params = _flat_init_params(attr.get("init_params_") or {})
    fields = registry.get("field_registries", {})
    setup = registry.get("setup_args", {})

    def state_registry(name: str) -> dict:
        return (fields.get(name) or {}).get("state_registry") or {}

    genes = _strings(saved.get("var_names") if saved.get("var_names") is not None else state_registry("X").get("column_names", []))
    batch_reg = state_registry("batch")
    batches = _strings(batch_reg.get("categorical_mapping", ["0"]))
    batch_key = setup.get("batch_key")

    label_reg = state_registry("labels")
    labels = _strings(label_reg.get("categorical_mapping", ["0"]))
    unlabeled = label_reg.get("unlabeled_category")
    if unlabeled is not None:
        labels = tuple(lab for lab in labels if lab != str(unlabeled))

    cat_reg = state_registry("extra_categorical_covs")
    categorical = {str(k): _strings(cat_reg["mappings"][k]) for k in cat_reg.get("field_keys", [])}
    continuous = _strings(state_registry("extra_continuous_covs").get("columns", []))

    needed = ["decoder.px_decoder.fc_layers.Layer 0.0.weight"]
    if params.get("dispersion", "gene") != "gene-cell":
        needed.append("px_r")
    missing = [k for k in needed if k not in state]
    if missing:
        raise ModelFileError(
            f"The model file lacks the weights {missing}: it is incomplete or was not written by "
            "scvi-tools' model.save()."
        )
    decoder_w0 = state["decoder.px_decoder.fc_layers.Layer 0.0.weight"]
    n_layers = sum(1 for k in state if k.startswith("decoder.px_decoder.fc_layers.Layer ") and k.endswith(".0.weight"))
    n_hidden = int(decoder_w0.shape[0])
    z_mean = state.get("z_encoder.mean_encoder.weight")
    n_latent = int(params.get("n_latent", z_mean.shape[0] if z_mean is not None else 10))

    batch_representation = params.get("batch_representation", "one-hot")
    embedding = state.get("_embeddings_dict.batch.weight")
    batch_embedding_dim = int(embedding.shape[1]) if embedding is not None else 0
    if batch_representation == "embedding" and embedding is None:
        raise ModelFileError("The model says batch_representation='embedding' but has no batch embedding weights.")

    dispersion = params.get("dispersion", "gene")
    if dispersion == "gene-label" and state["px_r"].shape[-1] == 0:
        raise UnsupportedModelError(
            f"This {model_name} model has dispersion='gene-label' but saved no per-label dispersion "
            "(px_r has 0 columns), so it cannot be decoded. Retrain with another dispersion."
        )

    # The weights tell whether covariates reach layer 1 only when the decoder has covariates.
    one_hot = [len(v) for v in categorical.values()] + ([len(batches)] if batch_representation != "embedding" else [])
    n_cov = len(continuous) + sum(n for n in one_hot if n > 1)
    if n_layers > 1 and n_cov > 0:
        inject = int(state["decoder.px_decoder.fc_layers.Layer 1.0.weight"].shape[1]) > n_hidden
    else:
        inject = bool(params.get("deeply_inject_covariates", True))

    spec = ModelSpec(
        model_name=model_name,
        scvi_version=str(registry.get("scvi_version", "unknown")),
        genes=genes,
        n_latent=n_latent,
        n_hidden=n_hidden,
        n_layers=n_layers,
        dispersion=dispersion,
        gene_likelihood=params.get("gene_likelihood", "zinb"),
        latent_distribution=params.get("latent_distribution", "normal"),
        batch_key=batch_key,
        batches=batches,
        labels_key=setup.get("labels_key"),
        labels=labels,
        categorical_covariates=categorical,
        continuous_covariates=continuous,
        layer=setup.get("layer"),
        size_factor_key=setup.get("size_factor_key"),
        batch_representation=batch_representation,
        batch_embedding_dim=batch_embedding_dim,
        encode_covariates=bool(params.get("encode_covariates", False)),
        deeply_inject_covariates=inject,
        use_batch_norm_decoder="decoder.px_decoder.fc_layers.Layer 0.1.running_mean" in state,
        use_layer_norm_decoder=_norm_where(params.get("use_layer_norm"), "none", "decoder"),
        use_batch_norm_encoder="z_encoder.encoder.fc_layers.Layer 0.1.running_mean" in state,
        use_layer_norm_encoder=_norm_where(params.get("use_layer_norm"), "none", "encoder"),
        log_variational=bool(params.get("log_variational", True)),
        use_observed_lib_size=bool(params.get("use_observed_lib_size", True)),
        file_sha256=_sha256(model_file),
        state_dict=state,
        unlabeled_category=None if unlabeled is None else str(unlabeled),
    )
    if spec.gene_likelihood not in LIKELIHOODS:
        raise UnsupportedModelError(
            f"gene_likelihood={spec.gene_likelihood!r} has no count distribution to chart; "
            "scvi-viz supports 'zinb', 'nb' and 'poisson'."
        )
    if len(genes) != state["decoder.px_scale_decoder.0.weight"].shape[0]:
        raise ModelFileError(
            f"The model lists {len(genes)} genes but its decoder has "
            f"{state['decoder.px_scale_decoder.0.weight'].shape[0]} outputs; the file is inconsistent."
        )
    return spec
