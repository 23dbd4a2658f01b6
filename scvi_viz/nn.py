"""Torch modules that mirror scvi-tools' ``scvi.nn`` building blocks.

``FCLayers``, ``Encoder`` and ``DecoderSCVI`` have the constructor signatures, parameter
names and forward semantics of their scvi-tools counterparts, so a state dict saved by
scvi-tools loads with ``load_state_dict(strict=True)`` and gives the same outputs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Literal

import torch
from torch import nn
from torch.distributions import Normal


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class FCLayers(nn.Module):
    """Fully-connected layers with optional one-hot covariate injection.

    Parameters
    ----------
    n_in
        Input dimension.
    n_out
        Output dimension.
    n_cat_list
        Number of categories of each categorical covariate; a covariate with one category
        is ignored.
    n_cont
        Number of continuous covariates passed through ``cont``.
    n_layers
        Number of fully-connected layers.
    n_hidden
        Width of the hidden layers.
    dropout_rate
        Dropout after each layer (inactive in eval mode).
    use_batch_norm
        Add ``BatchNorm1d(momentum=0.01, eps=0.001)`` after each linear layer.
    use_layer_norm
        Add ``LayerNorm(elementwise_affine=False)`` after each linear layer.
    use_activation
        Add ``activation_fn`` after each layer.
    bias
        Learn biases in the linear layers.
    inject_covariates
        Inject covariates into every layer (``True``) or only into the first.
    activation_fn
        Activation module class.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n_cat_list: Iterable[int] | None = None,
        n_cont: int = 0,
        n_layers: int = 1,
        n_hidden: int = 128,
        dropout_rate: float = 0.1,
        use_batch_norm: bool = True,
        use_layer_norm: bool = False,
        use_activation: bool = True,
        bias: bool = True,
        inject_covariates: bool = True,
        activation_fn: type[nn.Module] = nn.ReLU,
    ):
        super().__init__()
        self.inject_covariates = inject_covariates
        # Categorical covariates with a single category carry no information.
        self.n_cat_list = [n if n > 1 else 0 for n in n_cat_list] if n_cat_list is not None else []
        self.n_cov = n_cont + sum(self.n_cat_list)
        dims = [n_in] + (n_layers - 1) * [n_hidden] + [n_out]
        self.fc_layers = nn.Sequential(
            collections.OrderedDict(
                (
                    f"Layer {i}",
                    nn.Sequential(
                        nn.Linear(d_in + self.n_cov * self.inject_into_layer(i), d_out, bias=bias),
                        nn.BatchNorm1d(d_out, momentum=0.01, eps=0.001) if use_batch_norm else None,
                        nn.LayerNorm(d_out, elementwise_affine=False) if use_layer_norm else None,
                        activation_fn() if use_activation else None,
                        nn.Dropout(p=dropout_rate) if dropout_rate > 0 else None,
                    ),
                )
                for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:]))
            )
        )

    def inject_into_layer(self, layer_num: int) -> bool:
        """Whether covariates are concatenated to the input of layer ``layer_num``."""
        return layer_num == 0 or self.inject_covariates

    def covariates(self, *cat_list: torch.Tensor | None, cont: torch.Tensor | None = None) -> list[torch.Tensor]:
        """One-hot encode ``cat_list`` (extra entries are ignored) and prepend ``cont``.

        Parameters
        ----------
        cat_list
            Per covariate, category indices of shape ``(n, 1)`` or a one-hot ``(n, n_cat)``.
        cont
            Continuous covariates of shape ``(n, n_cont)``.

        Returns
        -------
        list of torch.Tensor
            The tensors concatenated to a layer's input, in scvi-tools' order.
        """
        if len(self.n_cat_list) > len(cat_list):
            raise ValueError("nb. categorical args provided doesn't match init. params.")
        covs = [cont] if cont is not None else []
        for n_cat, cat in zip(self.n_cat_list, cat_list):
            if n_cat and cat is None:
                raise ValueError("cat not provided while n_cat != 0 in init. params.")
            if n_cat > 1:
                covs.append(cat if cat.size(1) == n_cat else nn.functional.one_hot(cat.squeeze(-1), n_cat))
        return covs

    def forward(self, x: torch.Tensor, *cat_list: torch.Tensor, cont: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the layers to ``x`` of shape ``(n, n_in)`` (or ``(s, n, n_in)``)."""
        covs = self.covariates(*cat_list, cont=cont)
        for i, layers in enumerate(self.fc_layers):
            for layer in layers:
                if layer is None:
                    continue
                if isinstance(layer, nn.BatchNorm1d) and x.dim() == 3:
                    x = torch.cat([layer(slice_x).unsqueeze(0) for slice_x in x], dim=0)
                    continue
                if isinstance(layer, nn.Linear) and self.inject_into_layer(i) and covs:
                    if x.dim() == 3:
                        layer_covs = [c.unsqueeze(0).expand(x.size(0), c.size(0), c.size(1)) for c in covs]
                    else:
                        layer_covs = covs
                    x = torch.cat((x, *[c.to(x.dtype) for c in layer_covs]), dim=-1)
                x = layer(x)
        return x


class Encoder(nn.Module):
    """Encode ``n_input`` features into a ``n_output``-dimensional latent distribution.

    Parameters
    ----------
    n_input
        Input dimension.
    n_output
        Latent dimension.
    n_cat_list
        Number of categories of each categorical covariate.
    n_layers
        Number of hidden layers.
    n_hidden
        Width of the hidden layers.
    dropout_rate
        Dropout rate of the hidden layers.
    distribution
        ``"normal"`` or ``"ln"`` (logistic normal: the sample goes through a softmax).
    var_eps
        Minimum variance.
    var_activation
        Maps the variance head to positive values; :func:`torch.exp` by default.
    return_dist
        Return ``(Normal, sample)`` instead of ``(mean, variance, sample)``.
    **kwargs
        Passed to :class:`FCLayers`.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_cat_list: Iterable[int] | None = None,
        n_layers: int = 1,
        n_hidden: int = 128,
        dropout_rate: float = 0.1,
        distribution: Literal["normal", "ln"] = "normal",
        var_eps: float = 1e-4,
        var_activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        return_dist: bool = False,
        **kwargs,
    ):
        super().__init__()
        self.distribution = distribution
        self.var_eps = var_eps
        self.encoder = FCLayers(
            n_in=n_input,
            n_out=n_hidden,
            n_cat_list=n_cat_list,
            n_layers=n_layers,
            n_hidden=n_hidden,
            dropout_rate=dropout_rate,
            **kwargs,
        )
        self.mean_encoder = nn.Linear(n_hidden, n_output)
        self.var_encoder = nn.Linear(n_hidden, n_output)
        self.return_dist = return_dist
        self.z_transformation = nn.Softmax(dim=-1) if distribution == "ln" else _identity
        self.var_activation = torch.exp if var_activation is None else var_activation

    def forward(self, x: torch.Tensor, *cat_list: torch.Tensor):
        """Return ``(q_m, q_v, z)``, or ``(Normal(q_m, sqrt(q_v)), z)`` with ``return_dist``."""
        q = self.encoder(x, *cat_list)
        q_m = self.mean_encoder(q)
        q_v = self.var_activation(self.var_encoder(q)) + self.var_eps
        dist = Normal(q_m, q_v.sqrt())
        latent = self.z_transformation(dist.rsample())
        if self.return_dist:
            return dist, latent
        return q_m, q_v, latent


class DecoderSCVI(nn.Module):
    """Decode a latent point into the parameters of scVI's count distribution.

    Parameters
    ----------
    n_input
        Decoder input dimension (latent dimensions, plus continuous covariates and a batch
        embedding where the model has them).
    n_output
        Number of genes.
    n_cat_list
        Number of categories of each categorical covariate.
    n_layers
        Number of hidden layers.
    n_hidden
        Width of the hidden layers.
    inject_covariates
        Inject covariates into every hidden layer, or only the first.
    use_batch_norm
        Batch norm in the hidden layers.
    use_layer_norm
        Layer norm in the hidden layers.
    scale_activation
        ``"softmax"`` (scale is a fraction of the library) or ``"softplus"`` (size-factor models).
    **kwargs
        Passed to :class:`FCLayers` (``n_cont``, ``bias``, ``activation_fn``, ...).
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_cat_list: Iterable[int] | None = None,
        n_layers: int = 1,
        n_hidden: int = 128,
        inject_covariates: bool = True,
        use_batch_norm: bool = False,
        use_layer_norm: bool = False,
        scale_activation: Literal["softmax", "softplus"] = "softmax",
        **kwargs,
    ):
        super().__init__()
        if scale_activation not in ("softmax", "softplus"):
            raise ValueError(f"scale_activation must be 'softmax' or 'softplus', not {scale_activation!r}.")
        self.scale_activation = scale_activation
        self.px_decoder = FCLayers(
            n_in=n_input,
            n_out=n_hidden,
            n_cat_list=n_cat_list,
            n_layers=n_layers,
            n_hidden=n_hidden,
            dropout_rate=0,
            inject_covariates=inject_covariates,
            use_batch_norm=use_batch_norm,
            use_layer_norm=use_layer_norm,
            **kwargs,
        )
        activation = nn.Softmax(dim=-1) if scale_activation == "softmax" else nn.Softplus()
        self.px_scale_decoder = nn.Sequential(nn.Linear(n_hidden, n_output), activation)
        self.px_r_decoder = nn.Linear(n_hidden, n_output)
        self.px_dropout_decoder = nn.Linear(n_hidden, n_output)

    def forward(self, dispersion: str, z: torch.Tensor, library: torch.Tensor, *cat_list: torch.Tensor):
        """Return ``(px_scale, px_r, px_rate, px_dropout)``.

        Parameters
        ----------
        dispersion
            scVI's dispersion mode; ``px_r`` is decoded only for ``"gene-cell"``, else ``None``.
        z
            Decoder input of shape ``(n, n_input)``.
        library
            Log library size (or log size factor), shape ``(n, 1)``.
        cat_list
            Category indices ``(n, 1)`` of each categorical covariate; extra entries are ignored.

        Returns
        -------
        tuple
            ``px_scale``, ``px_r`` (or ``None``), ``px_rate = exp(library) * px_scale`` and the
            zero-inflation logits ``px_dropout``.
        """
        px = self.px_decoder(z, *cat_list)
        px_scale = self.px_scale_decoder(px)
        px_dropout = self.px_dropout_decoder(px)
        px_rate = torch.exp(library) * px_scale
        px_r = self.px_r_decoder(px) if dispersion == "gene-cell" else None
        return px_scale, px_r, px_rate, px_dropout
