"""scvi-viz: walk through the latent space of a trained scVI/scANVI model.

The public API: :func:`load_model` reads a ``model.save()`` folder into a :class:`ScviModel`,
whose ``decode``/``decode_genes``/``encode`` need no scvi-tools. Bad input raises subclasses of
:class:`ScviVizError` (a ``ValueError``).
"""

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
]
