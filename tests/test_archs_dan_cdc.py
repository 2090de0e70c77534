"""DAN and CDC baselines: official key/shape lists and parameter counts, checkpoint import, inference rules.

No official checkpoint is available offline, so the expected keys, shapes and counts are the ones
worked out from the official code (docs/baselines.md); the round trips use random weights saved in
the official checkpoint format.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import ROOT, mirror_dir

from replication.archs.cdc import CDC
from replication.archs.checkpoint import load_model
from replication.archs.dan import DAN, load_pca_matrix
from replication.archs.infer import upscale_tensor
from replication.archs.pth_import import import_pth
from replication.archs.registry import GENERATORS, TABLE, build_arch
from replication.cli import main
from replication.errors import UserError
from replication.imageio import read_image, write_image


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _conv(prefix: str, out_ch: int, in_ch: int, k: int, bias: bool = True) -> dict[str, tuple[int, ...]]:
    shapes = {f"{prefix}.weight": (out_ch, in_ch, k, k)}
    if bias:
        shapes[f"{prefix}.bias"] = (out_ch,)
    return shapes


def dan_x4_official_shapes() -> dict[str, tuple[int, ...]]:
    """The DANv1 x4 key list of the official checkpoints (nf 64, 40 blocks, 10-dim code, 21×21 kernels)."""
    s: dict[str, tuple[int, ...]] = {}
    s |= _conv("Restorer.head", 64, 3, 3)
    for i in range(40):
        s |= _conv(f"Restorer.body.{i}.body.0", 74, 74, 3)
        s |= _conv(f"Restorer.body.{i}.body.2", 64, 74, 3)
        s |= _conv(f"Restorer.body.{i}.body.3.body.0", 4, 64, 1)
        s |= _conv(f"Restorer.body.{i}.body.3.body.2", 64, 4, 1)
    s |= _conv("Restorer.fusion", 64, 64, 3)
    s |= _conv("Restorer.upscale.0", 256, 64, 3) | _conv("Restorer.upscale.2", 256, 64, 3)
    s |= _conv("Restorer.upscale.4", 3, 64, 3)
    s |= _conv("Estimator.head_LR", 32, 3, 1) | _conv("Estimator.head_HR", 32, 3, 9)
    for j in range(5):
        s |= _conv(f"Estimator.body.{j}.body.0", 64, 64, 3) | _conv(f"Estimator.body.{j}.body.2", 32, 64, 3)
        s |= _conv(f"Estimator.body.{j}.body.3.body.0", 2, 32, 1)
        s |= _conv(f"Estimator.body.{j}.body.3.body.2", 32, 2, 1)
    s |= _conv("Estimator.out", 10, 32, 3)
    s |= {"encoder": (1, 441, 10), "init_kernel": (1, 21, 21), "init_ker_map": (1, 10)}
    return s


def _rb(prefix: str, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
    s = _conv(f"{prefix}.res.0", cout, cin, 1, False) | _conv(f"{prefix}.res.2", cout, cout, 3, False)
    s |= _conv(f"{prefix}.res.4", cout, cout, 1, False)
    if cin != cout:
        s |= _conv(f"{prefix}.identity", cout, cin, 1, False)
    return s


def cdc_x4_official_shapes() -> dict[str, tuple[int, ...]]:
    """The HGSR-MHR x4 key list of the official checkpoint (nf 64, 6 hourglasses, the last without tail)."""
    s = _conv("conv_in.0", 64, 3, 3)
    for comp in ("flat", "edge", "corner"):
        for head, last_k in ((f"{comp}_map", 1), (f"upsample_{comp}", 3)):
            for idx in ("0.0", "1.1", "2.1", "3.0"):
                s |= _conv(f"{head}.{idx}", 64, 64, 3)
            s |= _conv(f"{head}.4.0", 3, 64, last_k)
    for h in range(6):
        g = f"HG_{h}"
        for name, cin, cout in (
            ("down1.res_block", 64, 128),
            ("down2.res_block", 128, 128),
            ("down3.res_block", 128, 256),
            ("down4.res_block", 256, 256),
            ("mid_res.0", 256, 256),
            ("mid_res.1", 256, 256),
            ("up1.res_block", 256, 256),
            ("up2.res_block", 256, 128),
            ("up3.res_block", 128, 128),
            ("up4.res_block", 128, 64),
            ("skip_conv0", 64, 64),
            ("skip_conv1", 128, 128),
            ("skip_conv2", 128, 128),
            ("skip_conv3", 256, 256),
            ("skip_conv4", 256, 256),
        ):
            s |= _rb(f"{g}.{name}", cin, cout)
        if h < 5:
            for t in (0, 1):
                p = f"{g}.tail.{t}"
                s |= _conv(f"{p}.res1.0", 64, 64, 1, False) | _conv(f"{p}.res2.0", 64, 64, 1, False)
                s |= _conv(f"{p}.res2.1", 64, 64, 3, False) | _conv(f"{p}.res3.0", 64, 64, 1, False)
                s |= _conv(f"{p}.res3.1", 64, 64, 3, False) | _conv(f"{p}.res3.3", 64, 64, 3, False)
                s |= _conv(f"{p}.filter_concat", 64, 192, 1, False)
    return s


def _shapes(net: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_dan_x4_keys_shapes_and_parameter_counts_are_the_official_ones():
    net = DAN()
    assert _shapes(net) == dan_x4_official_shapes()
    assert len(net.state_dict()) == 379
    assert _count(net) == 4_329_511
    assert _count(net.Restorer) == 4_040_915 and _count(net.Estimator) == 288_596
    assert sum(b.numel() for b in net.buffers()) == 4_861


def test_cdc_x4_keys_shapes_and_parameter_counts_are_the_official_ones():
    net = CDC()
    assert _shapes(net) == cdc_x4_official_shapes()
    assert len(net.state_dict()) == 426
    assert _count(net) == 39_920_530
    assert [_count(getattr(net, f"HG_{h}")) for h in range(6)] == [6_549_504] * 5 + [6_279_168]
    # the x2 / x3 models: 414 keys each
    for scale, params in ((2, 39_698_962), (3, 39_703_570)):
        other = CDC(scale=scale)
        assert len(other.state_dict()) == 414 and _count(other) == params


def test_table_rows_and_registry_counts():
    assert {"dan", "cdc"} <= set(GENERATORS)
    assert TABLE["dan"].ncnn is None and TABLE["cdc"].ncnn is None
    from replication.archs.weights_registry import get

    for name in ("dan", "cdc"):
        e = get(name)
        assert e.availability == "manual" and e.manual_path == f"data/manual/weights/{e.pth.filename}"
        assert e.is_generator


@pytest.fixture(scope="module")
def pca() -> torch.Tensor:
    mirror = mirror_dir()
    path = mirror / "weights/dan/pca_matrix.pth" if mirror else None
    if path is None or not path.is_file():
        pytest.skip("mirror weights/dan/pca_matrix.pth not available")
    return load_pca_matrix(path)


TINY_DAN = dict(num_feat=16, num_block=2)
TINY_CDC = dict(num_feat=4, num_hg=2)


def _tiny_dan(pca: torch.Tensor, seed: int = 3) -> DAN:
    net = DAN(seed=seed, **TINY_DAN)
    net.set_pca(pca)
    return net.eval()


def test_dan_pca_buffers_from_the_mirror(pca):
    assert pca.shape == (441, 10)
    assert torch.allclose(pca.T @ pca, torch.eye(10), atol=1e-5)  # orthonormal columns
    net = _tiny_dan(pca)
    # the delta kernel's code: its flattened 21×21 kernel times the basis, i.e. the centre row
    assert torch.equal(net.init_kernel[0, 10, 10], torch.tensor(1.0)) and net.init_kernel.sum() == 1
    assert torch.allclose(net.init_ker_map[0], pca[220])
    with pytest.raises(RuntimeError, match="PCA"):
        DAN(**TINY_DAN)(torch.rand(1, 3, 8, 8))


def test_strict_load_names_the_missing_key(tmp_path, pca):
    state = _tiny_dan(pca).state_dict()
    del state["Estimator.out.bias"]
    torch.save(state, tmp_path / "dan.pth")
    with pytest.raises(UserError, match=r"missing: Estimator\.out\.bias"):
        import_pth(tmp_path / "dan.pth", tmp_path / "dan.safetensors", "dan")
    state = CDC(**TINY_CDC).state_dict()
    state["HG_0.extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": state}, tmp_path / "cdc.pth")
    with pytest.raises(UserError, match=r"unexpected: HG_0\.extra\.weight"):
        import_pth(tmp_path / "cdc.pth", tmp_path / "cdc.safetensors", "cdc")
    assert not (tmp_path / "dan.safetensors").exists() and not (tmp_path / "cdc.safetensors").exists()


def test_dan_historical_names_are_accepted(tmp_path, pca):
    ref = _tiny_dan(pca)
    # June-2020 code: the Estimator was called Predictor; DataParallel adds module.
    old = {("module." + k.replace("Estimator.", "Predictor.")): v for k, v in ref.state_dict().items()}
    torch.save(old, tmp_path / "old.pth")
    import_pth(tmp_path / "old.pth", tmp_path / "old.safetensors", "dan")
    net = load_model(tmp_path / "old.safetensors")
    assert net.checkpoint_info["extra"]["key_naming"] == "predictor"
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in net.state_dict().items())


def _rand_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["dan", "cdc"])
def test_round_trip_official_format_to_upscale(tmp_path, arch, pca):
    """Random official-format checkpoint -> import-pth (CLI) -> upscale (CLI) == a direct forward."""
    if arch == "dan":
        net = _tiny_dan(pca)
        torch.save(net.state_dict(), tmp_path / "w.pth")  # official DAN files are flat dicts
    else:
        net = _mid_grey_cdc(5)
        torch.save({"Name": "HGSR-MHR", "state_dict": net.state_dict()}, tmp_path / "w.pth")
    model = tmp_path / "m.safetensors"
    assert main(["weights", "import-pth", "--pth", str(tmp_path / "w.pth"), "--arch", arch, "--out", str(model)]) == 0
    loaded = load_model(model)
    assert loaded.hyperparameters == net.hyperparameters
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in loaded.state_dict().items())
    # odd size: DAN takes it as is; CDC pads to a multiple of 16 (reflect, right/bottom) and crops
    h, w = 19, 23
    x = _rand_image(h, w)
    rgb = (x * 255).round() / 255
    write_image(tmp_path / "in.png", rgb)
    assert (
        main(
            ["upscale", "--model", str(model), "--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "o.png")]
        )
        == 0
    )
    out = read_image(tmp_path / "o.png").rgb
    assert out.shape == (1, 3, 4 * h, 4 * w)
    with torch.no_grad():
        if arch == "cdc":
            padded = torch.nn.functional.pad(rgb, (0, 32 - w, 0, 32 - h), mode="reflect")
            direct = net(padded)[..., : 4 * h, : 4 * w]
        else:
            direct = net(rgb)
    # in float, before 8-bit quantisation: the imported model through infer == the direct forward
    assert torch.allclose(upscale_tensor(loaded, rgb), direct.clamp(0, 1), atol=1e-5)
    expected = (direct.clamp(0, 1) * 255).round() / 255
    # same weights, same input: equal up to one 8-bit step from float rounding at .5 boundaries
    assert (out - expected).abs().max() <= 1 / 255 + 1e-6
    assert (out - expected).abs().mean() < 1e-3
    assert out.min() >= 0 and out.max() <= 1 and out.std() > 0.02  # not a constant (e.g. fully clamped) image
    # deterministic: a second run writes the same bytes
    assert (
        main(
            ["upscale", "--model", str(model), "--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "p.png")]
        )
        == 0
    )
    assert (tmp_path / "o.png").read_bytes() == (tmp_path / "p.png").read_bytes()
    # the official file as it is, without import-pth (architecture found by its key names): the same bytes
    argv = ["upscale", "--model", str(tmp_path / "w.pth"), "--input", str(tmp_path / "in.png")]
    assert main([*argv, "--output", str(tmp_path / "q.png")]) == 0
    assert (tmp_path / "o.png").read_bytes() == (tmp_path / "q.png").read_bytes()


def _mid_grey_cdc(seed: int) -> CDC:
    """A tiny CDC whose output sits around 0.5 with a visible spread, so the [0, 1] clamp hides nothing."""
    net = CDC(seed=seed, **TINY_CDC).eval()
    with torch.no_grad():
        for comp in ("flat", "edge", "corner"):
            last = getattr(net, f"upsample_{comp}")[4][0]
            last.weight.mul_(20)
            last.bias.fill_(0.5)  # the three component masks sum to 1: the output is centred on 0.5
    return net


def test_cdc_tiled_equals_untiled_with_pad_at_least_the_receptive_radius():
    net = _mid_grey_cdc(2)
    x = _rand_image(21, 440, seed=1)  # wider than tile + radius: the first tile does not see the far end
    radius = net.receptive_radius
    assert radius < 440 - 128
    whole = upscale_tensor(net, x, channels_last=False)
    tiled = upscale_tensor(net, x, tile=128, tile_pad=radius, channels_last=False)
    assert whole.shape == tiled.shape == (1, 3, 84, 1760)
    assert float(whole.std()) > 0.1 and float((whole == 0).float().mean() + (whole == 1).float().mean()) < 0.01
    assert torch.allclose(whole, tiled, atol=1e-5)
    # a pad below the reach gives seams: the check above can fail
    short = upscale_tensor(net, x, tile=128, tile_pad=16, channels_last=False)
    assert (whole - short).abs().max() > 1e-4


def test_cdc_receptive_radius_bounds_the_measured_reach():
    net = CDC(seed=1, **TINY_CDC)
    x = torch.rand(1, 3, 16, 768, requires_grad=True)
    net(x)[0, :, 32, 1536].sum().backward()
    cols = torch.nonzero(x.grad[0].abs().sum((0, 1))).flatten()
    reach = max(384 - int(cols.min()), int(cols.max()) - 384)
    assert 0 < reach <= net.receptive_radius


def test_dan_refuses_tiling_and_takes_any_size(pca):
    net = _tiny_dan(pca)
    x = _rand_image(7, 9)
    y = upscale_tensor(net, x)
    assert y.shape == (1, 3, 28, 36)
    assert torch.equal(y, upscale_tensor(net, x, tile=16))  # the tile covers the image: whole-image run
    with pytest.raises(UserError, match="whole-image statistics"):
        upscale_tensor(net, x, tile=4)


def test_dan_and_cdc_upscale_16bit_and_alpha(tmp_path, pca):
    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.random((1, 4, 9, 13)).astype(np.float32))
    write_image(tmp_path / "in.png", img[:, :3], alpha=img[:, 3:], bit_depth=16)
    for arch, net in (("dan", _tiny_dan(pca)), ("cdc", build_arch("cdc", **TINY_CDC))):
        from replication.archs.checkpoint import save_model

        model = save_model(tmp_path / f"{arch}.safetensors", net, source="test", source_sha256=None, fp16_rounded=False)
        out = tmp_path / f"{arch}.png"
        assert main(["upscale", "--model", str(model), "--input", str(tmp_path / "in.png"), "--output", str(out)]) == 0
        result = read_image(out)
        assert result.bit_depth == 16 and result.alpha is not None
        assert result.rgb.shape == (1, 3, 36, 52) and result.alpha.shape == (1, 1, 36, 52)


def test_fetch_manual_weights_names_the_path_then_imports(tmp_path, pca):
    out = tmp_path / "models" / "dan.safetensors"
    manual = tmp_path / "manual"
    args = [
        "weights",
        "fetch",
        "dan",
        "--out",
        str(out),
        "--manual",
        str(manual),
        "--params",
        str(ROOT / "params.yaml"),
    ]
    assert main(args) == 1
    assert not out.exists()
    # the official-size model in the official format, placed where the message says
    full = DAN(seed=1)
    full.set_pca(pca)
    (manual / "weights").mkdir(parents=True)
    torch.save(full.state_dict(), manual / "weights" / "danv1_x4_setting1.pth")
    assert main(args) == 0
    net = load_model(out)
    assert net.checkpoint_info["num_parameters"] == 4_329_511
    assert torch.equal(net.encoder[0], pca)
    # the configured mirror holds the official basis (the pca fixture read it there)
    assert net.checkpoint_info["extra"]["pca_matches_mirror"] is True


def test_dan_import_compares_the_pca_basis_with_the_mirror(tmp_path, pca):
    mirror = tmp_path / "mirror"
    (mirror / "weights" / "dan").mkdir(parents=True)
    torch.save(pca, mirror / "weights" / "dan" / "pca_matrix.pth")
    net = _tiny_dan(pca)
    torch.save(net.state_dict(), tmp_path / "same.pth")
    import_pth(tmp_path / "same.pth", tmp_path / "a.safetensors", "dan", mirror=mirror)
    assert load_model(tmp_path / "a.safetensors").checkpoint_info["extra"]["pca_matches_mirror"] is True
    # another basis (e.g. another model family); not a flip: the official basis is rotation-symmetric
    net.set_pca(torch.roll(pca, 1, dims=0))
    torch.save(net.state_dict(), tmp_path / "other.pth")
    import_pth(tmp_path / "other.pth", tmp_path / "b.safetensors", "dan", mirror=mirror)
    assert load_model(tmp_path / "b.safetensors").checkpoint_info["extra"]["pca_matches_mirror"] is False


def test_report_names_where_to_put_the_weights():
    from replication.params import load_params
    from replication.report.stage import unavailable_models

    for profile in ("smoke", "paper"):
        missing = unavailable_models(load_params(ROOT / "params.yaml", profile), measured=set())
        assert "data/manual/weights/danv1_x4_setting1.pth" in missing["dan"]
        assert "data/manual/weights/HGSR-MHR_X4_SubRegion_GW_283.pth" in missing["cdc"]
    # the paper profile runs both baselines: putting the files there is all that is needed
    assert {"dan", "cdc"} <= set(load_params(ROOT / "params.yaml", "paper").active.evaluate.baselines)


SMALL = {
    "rrdbnet": dict(num_feat=8, num_block=1, num_grow_ch=4),
    "srvgg": dict(num_feat=8, num_conv=2),
    "dan": TINY_DAN,
    "cdc": TINY_CDC,
    "unet_discriminator": dict(num_feat=8),
    "vgg_discriminator": dict(num_feat=8),
}


def test_every_table_row_detects_its_own_checkpoints_and_only_those():
    from replication.archs.registry import detect_arch

    assert set(SMALL) == set(TABLE)
    for name, hyper in SMALL.items():
        assert detect_arch(build_arch(name, **hyper).state_dict()) == name
    # historical names are detected before the key map renames them
    old_dan = {k.replace("Estimator.", "Predictor."): v for k, v in build_arch("dan", **TINY_DAN).state_dict().items()}
    assert detect_arch(old_dan) == "dan"
    esrgan = {"conv_first.weight": torch.zeros(1), "RRDB_trunk.0.RDB1.conv1.weight": torch.zeros(1)}
    assert detect_arch(esrgan) == "rrdbnet"
    with pytest.raises(UserError, match="no known architecture"):
        detect_arch({"head.weight": torch.zeros(1)})


def test_import_pth_detects_the_architecture(tmp_path, capsys):
    torch.save({"state_dict": CDC(**TINY_CDC).state_dict()}, tmp_path / "w.pth")
    assert (
        main(["weights", "import-pth", "--pth", str(tmp_path / "w.pth"), "--out", str(tmp_path / "m.safetensors")]) == 0
    )
    assert load_model(tmp_path / "m.safetensors").arch_name == "cdc"
    args = [
        "weights",
        "import-pth",
        "--pth",
        str(tmp_path / "w.pth"),
        "--scale",
        "4",
        "--out",
        str(tmp_path / "n.safetensors"),
    ]
    assert main(args) == 2
    assert "needs an explicit --arch" in capsys.readouterr().err


def test_list_shows_a_hand_placed_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # data/manual is relative to the project root (the working directory)
    (tmp_path / "data/manual/weights").mkdir(parents=True)
    (tmp_path / "data/manual/weights/HGSR-MHR_X4_SubRegion_GW_283.pth").write_bytes(b"x")
    assert main(["weights", "list", "--params", str(ROOT / "params.yaml"), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "manual" in rows["cdc"]["in_mirror"] and "manual" not in rows["dan"]["in_mirror"]
