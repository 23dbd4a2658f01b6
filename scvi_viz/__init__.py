"""scvi-viz: walk through the latent space of a trained scVI/scANVI model."""

from scvi_viz.errors import (
    DataError,
    DecodeInputError,
    ModelFileError,
    ScviVizError,
    UnsafeModelFileError,
    UnsupportedModelError,
)
from scvi_viz.model import Decoded, ScviModel, load_model

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DecodeInputError",
    "Decoded",
    "ModelFileError",
    "ScviModel",
    "ScviVizError",
    "UnsafeModelFileError",
    "UnsupportedModelError",
    "__version__",
    "load_model",
]
