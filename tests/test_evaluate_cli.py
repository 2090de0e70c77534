"""End to end on real mirror images: `replication evaluate` (Bicubic and a tiny network) and
`replication metrics` on its output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import require_mirror

from replication.artifacts.metrics_table import read_tidy
from replication.cli import main
from replication.imageio import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


@pytest.fixture(scope="module")
def set14() -> Path:
    return require_mirror("datasets/set14/LR_bicubic_X4", "metrics") / "datasets" / "set14"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATION_CACHE", str(tmp_path / "cache"))


def _evaluate(tmp_path: Path, set14: Path, model: str, source: str, extra: list[str]) -> int:
    """Evaluate baboon (123x120 px), barbara (180x144) and a larger 200x200 crop (named to sort first):
    --max-images 2 keeps the two smallest, baboon and barbara."""
    lr = tmp_path / "lr"
    if not lr.exists():
        lr.mkdir()
        for name in ("baboon", "barbara"):
            (lr / f"{name}.png").symlink_to(set14 / "LR_bicubic_X4" / f"{name}.png")
        write_image(lr / "aaa_large.png", read_image(set14 / "HR" / "baboon.png").rgb[..., :200, :200])
    return main(
        [
            "evaluate",
            "--params",
            str(PARAMS),
            "--model",
            model,
            "--name",
            Path(model).stem,
            "--source",
            source,
            "--dataset",
            "set14",
            "--input",
            str(lr),
            "--out-images",
            str(tmp_path / "sr"),
            "--out-metrics",
            str(tmp_path / "m" / "set14.csv"),
            "--max-images",
            "2",
            *extra,
        ]
    )


def test_bicubic_end_to_end_and_metrics_command_agree(tmp_path, set14, capsys):
    code = _evaluate(
        tmp_path, set14, "bicubic", "bicubic", ["--metrics", "niqe,psnr,ssim,musiq", "--reference", str(set14 / "HR")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "musiq: unavailable: needs musiq_koniq_ckpt-e95806b9.pth" in out

    for name in ("baboon", "barbara"):
        lr = read_image(set14 / "LR_bicubic_X4" / f"{name}.png")
        sr = read_image(tmp_path / "sr" / f"{name}.png")
        assert sr.size == (4 * lr.size[0], 4 * lr.size[1])

    df = read_tidy([tmp_path / "m" / "set14.csv"])
    assert len(df) == 6 and set(df.metric) == {"niqe", "psnr", "ssim"}  # no number for musiq
    assert set(df.subset) == {"smallest 2 of 3"} and set(df.source) == {"bicubic"} and set(df.profile) == {"smoke"}
    assert df.set_index("metric").lower_better.to_dict() == {"niqe": True, "psnr": False, "ssim": False}
    values = {(r.image, r.metric): r.value for r in df.itertuples()}
    # Bicubic x4 on Set14 baboon, Y channel, 4 px border: the standard 22.44 dB.
    assert values[("baboon.png", "psnr")] == pytest.approx(22.44, abs=0.01)
    assert 0.4 < values[("baboon.png", "ssim")] < 0.5
    assert values[("baboon.png", "niqe")] > 5  # blurry upscale: worse than the HR image's 5.73

    meta = json.loads((tmp_path / "m" / "set14.meta.json").read_text())
    assert meta["unavailable"]["musiq"].startswith("unavailable: needs musiq_koniq_ckpt-e95806b9.pth")
    assert meta["images"] == ["baboon.png", "barbara.png"]

    # The metrics command on the saved images reproduces the same numbers.
    assert (
        main(
            [
                "metrics",
                "--params",
                str(PARAMS),
                "--input",
                str(tmp_path / "sr"),
                "--metrics",
                "niqe,psnr",
                "--reference",
                str(set14 / "HR"),
                "--output",
                str(tmp_path / "scores.csv"),
            ]
        )
        == 0
    )
    scores = read_tidy([tmp_path / "scores.csv"])  # the same tidy schema as evaluate's
    assert list(scores.image.unique()) == ["baboon.png", "barbara.png"]
    assert set(scores.model) == set(scores.dataset) == {"sr"} and set(scores.source) == {"external"}
    assert set(scores.profile) == {"smoke"} and set(scores.subset) == {"full"}
    for r in scores.itertuples():
        assert r.value == values[(r.image, r.metric)]
    assert "niqe: mean" in capsys.readouterr().out


def test_network_model_end_to_end(tmp_path, set14):
    from replication.archs.checkpoint import save_model
    from replication.archs.registry import build_arch

    net = build_arch("rrdbnet", num_in_ch=3, num_out_ch=3, scale=4, num_feat=4, num_block=1, num_grow_ch=4)
    model = save_model(tmp_path / "tiny.safetensors", net, source="test", source_sha256=None, fp16_rounded=False)
    assert _evaluate(tmp_path, set14, str(model), "retrained-smoke", ["--metrics", "niqe"]) == 0
    df = read_tidy([tmp_path / "m" / "set14.csv"])
    assert list(df.image) == ["baboon.png", "barbara.png"] and set(df.model) == {"tiny"}
    lr = read_image(set14 / "LR_bicubic_X4" / "barbara.png")
    assert read_image(tmp_path / "sr" / "barbara.png").size == (4 * lr.size[0], 4 * lr.size[1])


@pytest.mark.parametrize(
    ("model", "source", "message"),
    [
        ("bicubic", "official", "--model bicubic goes with --source bicubic"),
        ("bicubic", "retrained-huge", "unknown profile 'huge'"),
        ("bicubic", "mine", "expected one of"),
        ("missing.safetensors", "official", "file not found"),
    ],
)
def test_bad_arguments_are_clear_errors(tmp_path, set14, capsys, model, source, message):
    # a wrong flag value is a usage error (2); a missing model file a runtime failure (1): docs/cli.md
    expected = 1 if model.endswith(".safetensors") else 2
    assert _evaluate(tmp_path, set14, model, source, ["--metrics", "niqe"]) == expected
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m" / "set14.csv").exists()
