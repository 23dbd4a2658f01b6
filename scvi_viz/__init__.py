"""scvi-viz: walk through the latent space of a trained scVI/scANVI model.

The public API: :func:`load_model` reads a ``model.save()`` folder into a :class:`ScviModel`,
whose ``decode``/``decode_genes``/``encode`` need no scvi-tools. Bad input raises subclasses of
:class:`ScviVizError` (a ``ValueError``). :func:`view` shows a model in the app from a notebook
(imported on first use: ``import scvi_viz`` starts nothing).
"""

from typing import Any

from scvi_viz.covariates import Covariates
from scvi_viz.errors import (
    DataError,
    DecodeInputError,
    ModelFileError,
    ScviVizError,
    UnsafeModelFileError,
    UnsupportedModelError,
)
from scvi_viz.model import Decoded, ScviModel, load_model
from scvi_viz.point import Point

__version__ = "0.1.0"

__all__ = [
    "Covariates",
    "DataError",
    "DecodeInputError",
    "Decoded",
    "ModelFileError",
    "Point",
    "ScviModel",
    "ScviVizError",
    "UnsafeModelFileError",
    "UnsupportedModelError",
    "__version__",
    "load_model",
    "view",
]


def __getattr__(name: str) -> Any:
    # PEP 562: scvi_viz.view lives in the notebook module, above the engine (see the README's code map).
    if name == "view":
        from scvi_viz.notebook import view

        return view
    raise AttributeError(f"module 'scvi_viz' has no attribute {name!r}")
