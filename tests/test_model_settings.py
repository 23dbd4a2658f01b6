"""Settings read from a model file are checked against what the model can really use."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scvi_viz import ModelFileError, ScviVizError, UnsupportedModelError, load_model

GOOD = Path(__file__).parent / "fixtures" / "models" / "scvi_default"


def saved_with(tmp_path: Path, change) -> Path:
    saved = torch.load(GOOD / "model.pt", map_location="cpu", weights_only=False)
    change(saved)
    torch.save(saved, tmp_path / "model.pt")
    return tmp_path


def params(saved) -> dict:
    return saved["attr_dict"]["init_params_"]["non_kwargs"]


CHANGES = {
    "unknown_dispersion": (lambda s: params(s).update(dispersion="gene-foo"), UnsupportedModelError, "dispersion"),
    "px_r_wrong_shape": (lambda s: s["model_state_dict"].update(px_r=torch.zeros(3, 2)), ModelFileError, "px_r"),
    "absurd_n_latent": (lambda s: params(s).update(n_latent=10**9), ModelFileError, "latent"),
    "n_latent_not_int": (lambda s: params(s).update(n_latent="ten"), ModelFileError, "n_latent"),
    "registry_is_a_list": (lambda s: s["attr_dict"].update(registry_=[1, 2]), ModelFileError, "registry_"),
    "attr_dict_is_a_string": (lambda s: s.update(attr_dict="x"), ModelFileError, "attr_dict"),
    "setup_args_wrong_type": (lambda s: s["attr_dict"]["registry_"].update(setup_args=3), ModelFileError, "setup_args"),
    "layer_not_a_string": (lambda s: s["attr_dict"]["registry_"]["setup_args"].update(layer=5), ModelFileError, "layer"),
    "unknown_latent_distribution": (lambda s: params(s).update(latent_distribution="beta"), UnsupportedModelError, "latent_distribution"),
    "missing_scale_head": (lambda s: s["model_state_dict"].pop("decoder.px_scale_decoder.0.weight"), ModelFileError, "px_scale_decoder"),
    "nan_weight": (lambda s: s["model_state_dict"]["decoder.px_scale_decoder.0.bias"].fill_(float("nan")), ModelFileError, "NaN"),
    "hidden_layer_of_another_width": (
        lambda s: s["model_state_dict"].update({"decoder.px_r_decoder.weight": torch.zeros(s["model_state_dict"]["decoder.px_r_decoder.weight"].shape[0], 3)}),
        ModelFileError, "px_r_decoder.weight is",
    ),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_bad_setting_is_refused_with_what_is_wrong(tmp_path, name):
    change, error, words = CHANGES[name]
    with pytest.raises(error, match=words) as info:
        load_model(saved_with(tmp_path, change), device="cpu")
    assert isinstance(info.value, ScviVizError)


def test_missing_scale_head_is_not_called_another_decoder(tmp_path):
    with pytest.raises(ModelFileError) as info:
        load_model(saved_with(tmp_path, CHANGES["missing_scale_head"][0]), device="cpu")
    assert "another decoder" not in str(info.value) and "other than DecoderSCVI" not in str(info.value)
