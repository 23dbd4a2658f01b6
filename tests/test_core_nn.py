"""``scvi_viz.nn`` modules equal scvi-tools' ``scvi.nn`` ones for every constructor option.

Needs scvi-tools (``pip install -r requirements-dev.txt``); skipped without it.
"""

from __future__ import annotations

import itertools
import zlib

import pytest
import torch
from torch import nn

from scvi_viz import nn as viz_nn

scvi = pytest.importorskip("scvi")
scvi_nn = pytest.importorskip("scvi.nn")


N_ROWS, N_IN, N_OUT, N_HIDDEN = 6, 5, 9, 7
CAT_LISTS = [None, [], [3], [4, 1, 2]]  # a 1-category entry is ignored by both


def _randomise(module: nn.Module, seed: int) -> None:
    """Random weights and batch-norm running statistics (fresh ones are trivial)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _pair(ref_cls, viz_cls, seed, *args, **kwargs):
    ref = ref_cls(*args, **kwargs)
    viz = viz_cls(*args, **kwargs)
    _randomise(ref, seed)
    ref_state = ref.state_dict()
    assert list(viz.state_dict()) == list(ref_state)
    viz.load_state_dict(ref_state, strict=True)
    return ref.eval(), viz.eval()


def _cats(cat_list, seed, n=N_ROWS, extra=1):
    """Category indices for ``cat_list`` plus ``extra`` trailing ones (like scANVI's label)."""
    g = torch.Generator().manual_seed(seed)
    sizes = list(cat_list or []) + [5] * extra
    return [torch.randint(0, k, (n, 1), generator=g) for k in sizes]


def _assert_same(a, b):
    assert (a is None) == (b is None)
    if a is not None:
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)


DECODER_GRID = [
    dict(
        n_cat_list=cat_list,
        n_layers=n_layers,
        inject_covariates=inject,
        use_batch_norm=bn,
        use_layer_norm=ln,
        scale_activation=act,
    )
    for cat_list, n_layers, inject, bn, ln, act in itertools.product(
        CAT_LISTS, [1, 2, 3], [True, False], [True, False], [True, False], ["softmax", "softplus"]
    )
    if n_layers > 1 or inject  # with one layer, inject_covariates changes nothing
]
EXTRA_KWARGS = [
    {},
    {"bias": False},
    {"activation_fn": nn.LeakyReLU},
    {"use_activation": False},
]


def _check_decoder(options: dict, extra: dict) -> None:
    seed = zlib.crc32(repr((options, extra)).encode())
    ref, viz = _pair(scvi_nn.DecoderSCVI, viz_nn.DecoderSCVI, seed, N_IN, N_OUT, n_hidden=N_HIDDEN, **options, **extra)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(N_ROWS, N_IN, generator=g)
    library = torch.rand(N_ROWS, 1, generator=g) * 5 + 3
    cats = _cats(options.get("n_cat_list"), seed)
    with torch.no_grad():
        for dispersion in ("gene", "gene-batch", "gene-label", "gene-cell"):
            expected = ref(dispersion, z, library, *cats)
            actual = viz(dispersion, z, library, *cats)
            assert len(actual) == 4
            for a, b in zip(expected, actual):
                _assert_same(a, b)
            assert (actual[1] is None) == (dispersion != "gene-cell")


@pytest.mark.parametrize("options", DECODER_GRID, ids=lambda o: "-".join(map(str, o.values())))
def test_decoder_matches_scvi(options):
    _check_decoder(options, {})


@pytest.mark.parametrize("extra", EXTRA_KWARGS[1:], ids=lambda e: ",".join(e))
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("use_batch_norm", [True, False])
def test_decoder_fc_kwargs_match_scvi(extra, n_layers, use_batch_norm):
    _check_decoder({"n_cat_list": [3, 1, 2], "n_layers": n_layers, "use_batch_norm": use_batch_norm}, extra)


@pytest.mark.parametrize("n_cat_list", CAT_LISTS[1:])
def test_decoder_matches_scvi_on_3d_input(n_cat_list):
    """Several posterior samples at once, shape (s, n, n_in), with batch norm."""
    ref, viz = _pair(
        scvi_nn.DecoderSCVI, viz_nn.DecoderSCVI, 3, N_IN, N_OUT, n_cat_list=n_cat_list,
        n_layers=2, n_hidden=N_HIDDEN, use_batch_norm=True,
    )
    z = torch.randn(3, N_ROWS, N_IN)
    library = torch.rand(3, N_ROWS, 1) + 6
    cats = _cats(n_cat_list, 3)
    with torch.no_grad():
        for a, b in zip(ref("gene-cell", z, library, *cats), viz("gene-cell", z, library, *cats)):
            _assert_same(a, b)


def test_decoder_with_n_cont_has_scvi_parameter_shapes():
    ref, viz = _pair(scvi_nn.DecoderSCVI, viz_nn.DecoderSCVI, 4, N_IN, N_OUT, n_cat_list=[3], n_cont=2, n_hidden=N_HIDDEN)
    assert {k: v.shape for k, v in viz.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    assert viz.px_decoder.fc_layers[0][0].in_features == N_IN + 2 + 3


@pytest.mark.parametrize("n_cont", [0, 2])
@pytest.mark.parametrize("inject", [True, False])
@pytest.mark.parametrize("n_cat_list", [None, [3, 1, 2]])
@pytest.mark.parametrize("dropout_rate", [0.0, 0.3])
def test_fc_layers_match_scvi(n_cont, inject, n_cat_list, dropout_rate):
    """Continuous covariates go through FCLayers' ``cont``; dropout is off in eval mode."""
    ref, viz = _pair(
        scvi_nn.FCLayers, viz_nn.FCLayers, 5, N_IN, N_OUT, n_cat_list=n_cat_list, n_cont=n_cont,
        n_layers=2, n_hidden=N_HIDDEN, inject_covariates=inject, dropout_rate=dropout_rate,
    )
    x = torch.randn(N_ROWS, N_IN)
    cont = torch.randn(N_ROWS, n_cont) if n_cont else None
    cats = _cats(n_cat_list, 5, extra=0)
    with torch.no_grad():
        _assert_same(ref(x, *cats, cont=cont), viz(x, *cats, cont=cont))


def test_fc_layers_accept_one_hot_categories():
    ref, viz = _pair(scvi_nn.FCLayers, viz_nn.FCLayers, 6, N_IN, N_OUT, n_cat_list=[3], n_hidden=N_HIDDEN)
    x = torch.randn(N_ROWS, N_IN)
    idx = torch.randint(0, 3, (N_ROWS, 1))
    one_hot = nn.functional.one_hot(idx.squeeze(1), 3)
    with torch.no_grad():
        _assert_same(ref(x, one_hot), viz(x, one_hot))
        _assert_same(viz(x, idx), viz(x, one_hot))


def test_fc_layers_refuse_missing_categories_like_scvi():
    ref, viz = _pair(scvi_nn.FCLayers, viz_nn.FCLayers, 7, N_IN, N_OUT, n_cat_list=[3, 2], n_hidden=N_HIDDEN)
    x = torch.randn(N_ROWS, N_IN)
    one = torch.zeros(N_ROWS, 1, dtype=torch.long)
    for module in (ref, viz):
        with pytest.raises(ValueError, match="nb. categorical args"):
            module(x, one)


ENCODER_GRID = [
    dict(n_cat_list=c, n_layers=n, inject_covariates=i, use_batch_norm=bn, use_layer_norm=ln, distribution=d)
    for c, n, i, bn, ln, d in itertools.product(
        CAT_LISTS, [1, 2], [True, False], [True, False], [True, False], ["normal", "ln"]
    )
    if n > 1 or i
]


@pytest.mark.parametrize("options", ENCODER_GRID, ids=lambda o: "-".join(map(str, o.values())))
def test_encoder_matches_scvi(options):
    _check_encoder(options, return_dist=True)


@pytest.mark.parametrize("options", ENCODER_GRID[::9], ids=lambda o: "-".join(map(str, o.values())))
def test_encoder_without_return_dist_matches_scvi(options):
    _check_encoder(options, return_dist=False)


def _check_encoder(options: dict, return_dist: bool) -> None:
    seed = zlib.crc32(repr(options).encode())
    ref, viz = _pair(
        scvi_nn.Encoder, viz_nn.Encoder, seed, N_IN, 4, n_hidden=N_HIDDEN, return_dist=return_dist,
        var_eps=1e-3, **options,
    )
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_ROWS, N_IN, generator=g)
    cats = _cats(options["n_cat_list"], seed, extra=0)
    with torch.no_grad():
        expected, actual = ref(x, *cats), viz(x, *cats)
    if return_dist:
        (q_ref, z_ref), (q_viz, z_viz) = expected, actual
        _assert_same(q_ref.loc, q_viz.loc)
        _assert_same(q_ref.scale, q_viz.scale)
    else:
        (m_ref, v_ref, z_ref), (m_viz, v_viz, z_viz) = expected, actual
        _assert_same(m_ref, m_viz)
        _assert_same(v_ref, v_viz)
    # The sample is random; for "ln" both put it on the simplex.
    assert z_viz.shape == z_ref.shape == (N_ROWS, 4)
    if options["distribution"] == "ln":
        torch.testing.assert_close(z_viz.sum(-1), torch.ones(N_ROWS))
        torch.testing.assert_close(z_ref.sum(-1), torch.ones(N_ROWS))


def test_encoder_var_activation_is_used():
    ref, viz = _pair(
        scvi_nn.Encoder, viz_nn.Encoder, 9, N_IN, 4, n_hidden=N_HIDDEN, var_activation=nn.functional.softplus,
    )
    x = torch.randn(N_ROWS, N_IN)
    with torch.no_grad():
        _, v_ref, _ = ref(x)
        _, v_viz, _ = viz(x)
        head = viz.var_encoder(viz.encoder(x))
    _assert_same(v_ref, v_viz)
    torch.testing.assert_close(v_viz, nn.functional.softplus(head) + 1e-4)
    assert not torch.allclose(v_viz, torch.exp(head) + 1e-4)
