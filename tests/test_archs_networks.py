"""Architectures: output shapes, official parameter counts and key names, deterministic init."""

from __future__ import annotations

import pytest
import torch

from replication.archs.registry import ARCHS, build_arch, hyperparameter_names
from replication.archs.rrdbnet import RRDBNet, rrdbnet_conv_names
from replication.archs.vgg import VGGFeatureExtractor, vgg19_layer_names
from replication.errors import UserError

TINY_RRDB = dict(num_feat=8, num_block=2, num_grow_ch=4)


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdbnet_output_shape_every_scale(scale):
    net = build_arch("rrdbnet", scale=scale, **TINY_RRDB).eval()
    x = torch.rand(2, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, 12 * scale, 16 * scale)
    # pixel-unshuffle models need sides divisible by 2 (scale 2) or 4 (scale 1)
    assert net.input_multiple == {4: 1, 2: 2, 1: 4}[scale]


def test_srvgg_output_shape_and_residual_over_nearest_upsampling():
    net = build_arch("srvgg", num_feat=8, num_conv=2, scale=3).eval()
    x = torch.rand(1, 3, 10, 7)
    with torch.no_grad():
        for p in net.body[-1].parameters():
            p.zero_()  # zero residual: the output must be the nearest upsampling
        y = net(x)
    assert y.shape == (1, 3, 30, 21)
    assert torch.equal(y, torch.nn.functional.interpolate(x, scale_factor=3, mode="nearest"))


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_unet_discriminator_shape_and_spectral_norm_keys(spectral_norm):
    net = build_arch("unet_discriminator", num_feat=8, spectral_norm=spectral_norm)
    y = net(torch.rand(2, 3, 32, 24))
    assert y.shape == (2, 1, 32, 24)
    keys = set(net.state_dict())
    for i in range(10):
        normed = spectral_norm and 1 <= i <= 8  # the reference: SN on conv1..conv8 only
        assert (f"conv{i}.weight_orig" in keys) == normed
        assert (f"conv{i}.weight_u" in keys) == normed
        assert (f"conv{i}.weight" in keys) == (not normed)
    assert ("conv0.bias" in keys) and ("conv9.bias" in keys) and ("conv1.bias" not in keys)
    with pytest.raises(ValueError, match="divisible by 8"):
        net(torch.rand(1, 3, 20, 24))


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_vgg_discriminator_shape(size):
    net = build_arch("vgg_discriminator", num_feat=4, input_size=size)
    assert net(torch.rand(2, 3, size, size)).shape == (2, 1)
    with pytest.raises(ValueError, match="built for"):
        net(torch.rand(1, 3, size * 2, size * 2))


@pytest.mark.parametrize("size", [8, 48, 100])
def test_vgg_discriminator_rejects_sizes_without_a_4x4_end(size):
    with pytest.raises(ValueError, match="4·2\\^n"):
        build_arch("vgg_discriminator", num_feat=4, input_size=size)


@pytest.mark.parametrize(
    "arch, hyper, expected",
    [
        ("rrdbnet", {}, 16_697_987),  # RealESRGAN_x4plus
        ("rrdbnet", {"scale": 2}, 16_703_171),  # x2plus (conv_first takes 12 channels)
        ("rrdbnet", {"scale": 1}, 16_723_907),
        ("rrdbnet", {"num_block": 6}, 4_467_779),  # anime_6B
        ("srvgg", {"num_conv": 16}, 621_424),  # realesr-animevideov3
        ("srvgg", {"num_conv": 32}, 1_213_296),  # realesr-general-x4v3
        ("unet_discriminator", {}, 4_376_897),
        ("unet_discriminator", {"spectral_norm": False}, 4_376_897),
        ("vgg_discriminator", {"input_size": 128}, 14_499_401),
        ("vgg_discriminator", {"input_size": 256}, 21_055_049),
    ],
)
def test_parameter_counts_equal_the_official_ones(arch, hyper, expected):
    assert _count(build_arch(arch, **hyper)) == expected


def test_rrdbnet_key_names_are_basicsr_names():
    net = RRDBNet(num_block=23)
    keys = list(net.state_dict())
    for known in [
        "conv_first.weight",
        "body.0.rdb1.conv1.weight",
        "body.22.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_up2.bias",
        "conv_hr.weight",
        "conv_last.bias",
    ]:
        assert known in keys
    assert tuple(net.state_dict()["body.5.rdb2.conv4.weight"].shape) == (32, 64 + 3 * 32, 3, 3)
    assert keys == [f"{n}.{k}" for n in rrdbnet_conv_names(23) for k in ("weight", "bias")]


def test_srvgg_prelu_keys_sit_at_odd_body_indices():
    keys = build_arch("srvgg", num_conv=16).state_dict()
    assert tuple(keys["body.1.weight"].shape) == (64,)  # PReLU slopes
    assert tuple(keys["body.34.weight"].shape) == (48, 64, 3, 3)  # last conv: 3·4² outputs
    relu_keys = build_arch("srvgg", num_conv=2, act_type="relu").state_dict()
    assert "body.1.weight" not in relu_keys and "body.2.weight" in relu_keys


def test_init_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_arch("rrdbnet", seed=7, **TINY_RRDB)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(999)  # a different global state must not matter
    b = build_arch("rrdbnet", seed=7, **TINY_RRDB)
    c = build_arch("rrdbnet", seed=8, **TINY_RRDB)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert not torch.equal(a.conv_first.weight, c.conv_first.weight)
    d1 = build_arch("unet_discriminator", num_feat=8, seed=3).state_dict()
    d2 = build_arch("unet_discriminator", num_feat=8, seed=3).state_dict()
    assert all(torch.equal(v, d2[k]) for k, v in d1.items())


def test_rdb_convs_get_the_scaled_esrgan_init():
    net = build_arch("rrdbnet", num_feat=64, num_block=1, num_grow_ch=32)
    # kaiming-normal (fan_in, gain sqrt 2) × 0.1: std = 0.1·sqrt(2 / fan_in)
    w = net.body[0].rdb1.conv1.weight
    expected = 0.1 * (2 / (64 * 9)) ** 0.5
    assert abs(w.std().item() / expected - 1) < 0.05
    assert torch.count_nonzero(net.body[0].rdb1.conv1.bias) == 0
    assert torch.count_nonzero(net.conv_first.bias) > 0  # the other convs keep PyTorch's default init


def test_hyperparameters_are_keyword_only_and_recorded():
    assert hyperparameter_names("rrdbnet") == [
        "num_in_ch",
        "num_out_ch",
        "scale",
        "num_feat",
        "num_block",
        "num_grow_ch",
    ]
    net = build_arch("rrdbnet", scale=2, **TINY_RRDB)
    assert net.hyperparameters["scale"] == 2 and net.hyperparameters["num_block"] == 2
    with pytest.raises(TypeError):
        RRDBNet(3, 3)  # positional hyperparameters are refused
    with pytest.raises(UserError, match="unknown hyperparameter"):
        build_arch("rrdbnet", num_blocks=3)
    with pytest.raises(UserError, match="unknown architecture"):
        build_arch("edsr")
    assert set(ARCHS) == {"rrdbnet", "srvgg", "dan", "cdc", "unet_discriminator", "vgg_discriminator"}


def test_vgg_extractor_features_before_relu_match_torchvision():
    import torchvision

    layers = ["conv1_2", "conv2_2", "pool2"]
    ext = VGGFeatureExtractor(layers, pretrained=False, seed=0, use_input_norm=True)
    assert list(dict(ext.vgg_net.named_children())) == vgg19_layer_names()[:10]  # truncated after pool2
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    feats = ext(x)
    assert set(feats) == set(layers)
    assert (feats["conv1_2"] < 0).any()  # before ReLU
    # same weights in torchvision's own module give the same pre-activation features
    ref = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])[:10].eval()
    ref.load_state_dict(
        {f"{i}.{k}": v for i, (name, m) in enumerate(ext.vgg_net.named_children()) for k, v in m.state_dict().items()}
    )
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(feats["conv1_2"], ref[:3]((x - mean) / std), atol=1e-6)
        assert torch.allclose(feats["pool2"], ref((x - mean) / std), atol=1e-6)
    assert not any(p.requires_grad for p in ext.parameters())
    again = VGGFeatureExtractor(layers, pretrained=False, seed=0)
    assert torch.equal(again.vgg_net.conv1_1.weight, ext.vgg_net.conv1_1.weight)


def test_vgg_extractor_loads_torchvision_weights_file(tmp_path):
    gen = torch.Generator().manual_seed(0)
    # a torchvision-format file holding the first stage (features.0 = conv1_1, features.2 = conv1_2)
    state = {
        "features.0.weight": torch.randn(64, 3, 3, 3, generator=gen),
        "features.0.bias": torch.randn(64),
        "features.2.weight": torch.randn(64, 64, 3, 3, generator=gen),
        "features.2.bias": torch.randn(64),
        "classifier.0.weight": torch.zeros(1),
    }
    path = tmp_path / "vgg19-test.pth"
    torch.save(state, path)
    ext = VGGFeatureExtractor(["conv1_2"], pretrained=True, weights_path=path, range_norm=True)
    assert torch.equal(ext.vgg_net.conv1_2.weight, state["features.2.weight"])
    x = torch.rand(1, 3, 8, 8) * 2 - 1  # range_norm: inputs in [-1, 1]
    assert ext(x)["conv1_2"].shape == (1, 64, 8, 8)
    with pytest.raises(UserError, match=r"missing features\.5\.weight"):
        VGGFeatureExtractor(["conv2_1"], pretrained=True, weights_path=path)
    with pytest.raises(UserError, match="vgg19_imagenet"):
        VGGFeatureExtractor(["conv1_2"], pretrained=True)
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        VGGFeatureExtractor(["conv6_1"], pretrained=False)
