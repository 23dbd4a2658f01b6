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
from scvi_viz.spec import DISPERSIONS, LIKELIHOODS, ModelSpec

SUPPORTED_MODELS = ("SCVI", "SCANVI")

MAX_GENES = 1_000_000
"""Most genes a model may list (the largest scRNA-seq gene sets have some 60,000)."""
MAX_LATENT = 4096
MAX_HIDDEN = 65_536
MAX_LAYERS = 64
MAX_CATEGORIES = 100_000
"""Most categories of the batch, the labels or one categorical covariate."""

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
    try:
        return _spec_from_saved(saved, model_file)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, OverflowError, RecursionError) as exc:
        if isinstance(exc, (ModelFileError, UnsupportedModelError)):
            raise
        raise ModelFileError(
            f"{model_file.name} has a setting of the wrong type or shape ({type(exc).__name__}: {str(exc)[:200]}), "
            "so it was not written by scvi-tools' model.save(). Save the model again with scvi-tools."
        ) from exc


def _need(value: Any, kind: type | tuple[type, ...], what: str, default: Any = None) -> Any:
    """``value`` if it has type ``kind``, ``default`` if it is ``None``; else a ``ModelFileError``."""
    if value is None and default is not None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind in (int, (int,)):
        raise ModelFileError(
            f"The model file's {what} is a {type(value).__name__}, not what scvi-tools writes there; "
            "the file is damaged or was not written by scvi-tools' model.save()."
        )
    return value


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise UnsupportedModelError(
            f"The model's {what} is {value!r:.60}; scvi-viz knows {', '.join(map(repr, allowed))}. "
            "The file may come from a modified or much newer scvi-tools."
        )
    return value


def _count(value: int, cap: int, what: str) -> int:
    if not 1 <= value <= cap:
        raise ModelFileError(f"The model file says it has {value:,} {what}; a model has 1 to {cap:,}. The file is damaged.")
    return value


def _spec_from_saved(saved: Any, model_file: Path) -> ModelSpec:
    if not isinstance(saved, dict) or not {"model_state_dict", "attr_dict"} <= set(saved):
        raise ModelFileError(
            f"{model_file.name} is a torch file but not a model saved by scvi-tools 0.15 or newer "
            "(it lacks model_state_dict/attr_dict). Load it in scvi-tools and call model.save(dir)."
        )
    attr = _need(saved["attr_dict"], dict, "attr_dict")
    registry = _need(attr.get("registry_"), dict, "registry_", {})
    model_name = str(registry.get("model_name", "unknown"))[:100]
    state = {
        str(k): v for k, v in _need(saved["model_state_dict"], dict, "model_state_dict").items()
        if isinstance(v, torch.Tensor)
    }

    if model_name.upper() not in SUPPORTED_MODELS:
        family = _DECODER_FAMILIES.get(model_name.upper(), "a decoder other than DecoderSCVI")
        raise UnsupportedModelError(
            f"This is a {model_name} model, which uses {family}. scvi-viz decodes models built on "
            f"scvi-tools' DecoderSCVI: {', '.join(SUPPORTED_MODELS)}."
        )

    params = _flat_init_params(_need(attr.get("init_params_"), dict, "init_params_", {}))
    fields = _need(registry.get("field_registries"), dict, "field_registries", {})
    setup = _need(registry.get("setup_args"), dict, "setup_args", {})

    def state_registry(name: str) -> dict:
        entry = _need(fields.get(name), dict, f"field registry {name!r}", {})
        return _need(entry.get("state_registry"), dict, f"state registry of {name!r}", {})

    def key(name: str) -> str | None:
        return _need(setup.get(name), str, f"setup argument {name}") if setup.get(name) is not None else None

    genes = _strings(saved.get("var_names") if saved.get("var_names") is not None else state_registry("X").get("column_names", []))
    _count(len(genes), MAX_GENES, "genes")
    batch_reg = state_registry("batch")
    batches = _strings(batch_reg.get("categorical_mapping", ["0"]))
    batch_key = key("batch_key")

    label_reg = state_registry("labels")
    labels = _strings(label_reg.get("categorical_mapping", ["0"]))
    unlabeled = label_reg.get("unlabeled_category")
    if unlabeled is not None:
        labels = tuple(lab for lab in labels if lab != str(unlabeled))

    cat_reg = state_registry("extra_categorical_covs")
    categorical = {str(k): _strings(_need(cat_reg.get("mappings"), dict, "categorical covariate mappings")[k])
                   for k in cat_reg.get("field_keys", [])}
    continuous = _strings(state_registry("extra_continuous_covs").get("columns", []))
    for what, cats in [("batches", batches), ("labels", labels), *((f"categories of {k!r}", v) for k, v in categorical.items())]:
        _count(len(cats), MAX_CATEGORIES, what)

    needed = ["decoder.px_decoder.fc_layers.Layer 0.0.weight", "decoder.px_scale_decoder.0.weight"]
    dispersion = _choice(params.get("dispersion", "gene"), DISPERSIONS, "dispersion")
    gene_likelihood = params.get("gene_likelihood", "zinb")
    if not isinstance(gene_likelihood, str) or gene_likelihood not in LIKELIHOODS:
        raise UnsupportedModelError(
            f"gene_likelihood={gene_likelihood!r:.40} has no count distribution to chart; "
            "scvi-viz supports 'zinb', 'nb' and 'poisson'."
        )
    if dispersion != "gene-cell" and gene_likelihood != "poisson":
        needed.append("px_r")
    missing = [k for k in needed if k not in state]
    if missing:
        raise ModelFileError(
            f"The model file lacks the weights {missing}: it is incomplete or was not written by "
            "scvi-tools' model.save()."
        )
    decoder_w0 = state["decoder.px_decoder.fc_layers.Layer 0.0.weight"]
    if decoder_w0.dim() != 2:
        raise ModelFileError("The model's first decoder weight is not a matrix; the file is damaged.")
    n_layers = _count(sum(1 for k in state if k.startswith("decoder.px_decoder.fc_layers.Layer ") and k.endswith(".0.weight")), MAX_LAYERS, "decoder layers")
    n_hidden = _count(int(decoder_w0.shape[0]), MAX_HIDDEN, "hidden units")
    z_mean = state.get("z_encoder.mean_encoder.weight")
    n_latent = params.get("n_latent", int(z_mean.shape[0]) if z_mean is not None and z_mean.dim() == 2 else 10)
    n_latent = _count(_need(n_latent, int, "n_latent"), MAX_LATENT, "latent dimensions")
    if z_mean is not None and tuple(z_mean.shape[:1]) != (n_latent,):
        raise ModelFileError(
            f"The model's settings say n_latent={n_latent} but its encoder outputs {z_mean.shape[0]} dimensions; "
            "the file is inconsistent."
        )

    batch_representation = _choice(params.get("batch_representation", "one-hot"), ("one-hot", "embedding"), "batch_representation")
    embedding = state.get("_embeddings_dict.batch.weight")
    batch_embedding_dim = int(embedding.shape[1]) if embedding is not None and embedding.dim() == 2 else 0
    if batch_representation == "embedding" and embedding is None:
        raise ModelFileError("The model says batch_representation='embedding' but has no batch embedding weights.")

    if dispersion == "gene-label" and "px_r" in state and state["px_r"].shape[-1] == 0:
        raise UnsupportedModelError(
            f"This {model_name} model has dispersion='gene-label' but saved no per-label dispersion "
            "(px_r has 0 columns), so it cannot be decoded. Retrain with another dispersion."
        )
    n_genes = len(genes)
    if state["decoder.px_scale_decoder.0.weight"].shape[:1] != (n_genes,):
        raise ModelFileError(
            f"The model lists {n_genes} genes but its decoder has "
            f"{state['decoder.px_scale_decoder.0.weight'].shape[0]} outputs; the file is inconsistent."
        )
    if "px_r" in needed:
        px_r = tuple(state["px_r"].shape)
        n_label_columns = len(labels) + (unlabeled is not None)  # scANVI counts its unlabeled category
        fits = {
            "gene": px_r == (n_genes,),
            "gene-batch": px_r == (n_genes, len(batches)),
            "gene-label": len(px_r) == 2 and px_r[0] == n_genes and px_r[1] in (len(labels), n_label_columns),
        }[dispersion]
        if not fits:
            columns = {"gene": "", "gene-batch": f" x {len(batches)} batches", "gene-label": f" x {len(labels)} labels"}[dispersion]
            raise ModelFileError(
                f"The model's dispersion is {dispersion!r}, so px_r should have {n_genes} genes{columns}, but its "
                f"shape is {px_r}; the file is inconsistent."
            )

    # The weights tell whether covariates reach layer 1 only when the decoder has covariates.
    one_hot = [len(v) for v in categorical.values()] + ([len(batches)] if batch_representation != "embedding" else [])
    n_cov = len(continuous) + sum(n for n in one_hot if n > 1)
    if n_layers > 1 and n_cov > 0:
        inject = int(state["decoder.px_decoder.fc_layers.Layer 1.0.weight"].shape[1]) > n_hidden
    else:
        inject = bool(params.get("deeply_inject_covariates", True))

    return ModelSpec(
        model_name=model_name,
        scvi_version=str(registry.get("scvi_version", "unknown"))[:40],
        genes=genes,
        n_latent=n_latent,
        n_hidden=n_hidden,
        n_layers=n_layers,
        dispersion=dispersion,
        gene_likelihood=gene_likelihood,
        latent_distribution=_choice(params.get("latent_distribution", "normal"), ("normal", "ln"), "latent_distribution"),
        batch_key=batch_key,
        batches=batches,
        labels_key=key("labels_key"),
        labels=labels,
        categorical_covariates=categorical,
        continuous_covariates=continuous,
        layer=key("layer"),
        size_factor_key=key("size_factor_key"),
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
        minified_fields=_minified_fields(fields),
    )


MINIFIED_FIELDS = {"latent_qzm": "obsm", "latent_qzv": "obsm", "observed_lib_size": "obs", "minify_type": "uns"}
"""Registry fields of minified data, and the AnnData attribute each must live in."""


def _minified_fields(fields: dict) -> dict[str, tuple[str, str]]:
    """``(attribute, key)`` of each minified-data field the registry holds (the names differ between releases)."""
    found = {}
    for name, attr in MINIFIED_FIELDS.items():
        entry = fields.get(name)
        data = entry.get("data_registry") if isinstance(entry, dict) else None
        if isinstance(data, dict) and data.get("attr_name") == attr and isinstance(data.get("attr_key"), str):
            found[name] = (attr, data["attr_key"][:200])
    return found
