"""Errors raised for bad input. All are ``ValueError`` subclasses with messages for a person."""

from __future__ import annotations


class ScviVizError(ValueError):
    """Base class of the errors scvi-viz raises for input it cannot use."""


class ModelFileError(ScviVizError):
    """The model file is missing parts, truncated, or not a torch/scvi-tools file."""


class UnsafeModelFileError(ModelFileError):
    """The model file asks to run code that a saved scvi-tools model never contains."""


class UnsupportedModelError(ScviVizError):
    """The model is valid but its decoder is not scvi-tools' ``DecoderSCVI``."""


class DataError(ScviVizError):
    """The AnnData file cannot be read or does not fit the model."""


class DecodeInputError(ScviVizError):
    """An argument of the engine or of an analysis entry point has the wrong type, shape, range or category.

    Every argument check lives in :mod:`scvi_viz.model.inputs`; the message names the argument
    and what to pass instead.
    """


class CudaFallbackWarning(UserWarning):
    """A decode ran out of GPU memory even in small chunks and was finished on the CPU."""
