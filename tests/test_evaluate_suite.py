"""`replication evaluate-all`: one model on every set of the profile in one process gives the same files
as one `replication evaluate` per set, and refuses bad outputs and inputs clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import require_mirror

from replication.cli import main
from replication.imageio import write_image
from replication.params import load_params

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATION_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # relative paths, as in dvc.yaml: the provenance files then compare equal


def _picture(seed: int, size: int) -> torch.Tensor:
    """A smooth random picture with some edges (NIQE needs structure, not flat grey)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 6, 6, generator=g)
    img = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    img[..., size // 3 :, : size // 2] += 0.3
    return img.clamp(0, 1)


@pytest.fixture
def sets(tmp_path) -> dict:
    """Two test sets in their download roots, the validation set and one extra set (the smoke profile's)."""
    params = load_params(PARAMS)
    p = params.active
    for k, name in enumerate(p.evaluate.test_sets):
        for i in range(2):
            write_image(Path("test") / name / name / f"img{i}.png", _picture(10 * k + i, 40))
    folders = [Path("val")] + [Path("val-extra") / v for v in p.validation.extra_variants]
    for k, root in enumerate(folders):
        for i in range(2):
            gt = _picture(100 + 10 * k + i, 64)
            write_image(root / "gt" / f"p{i}.png", gt)
            write_image(root / "lq" / f"p{i}.png", torch.nn.functional.avg_pool2d(gt, 4))
    return {"params": params, "val_name": f"val-{p.validation.dataset}"}


@pytest.fixture
def model(tmp_path) -> str:
    from replication.archs.checkpoint import save_model
    from replication.archs.registry import build_arch

    net = build_arch("srvgg", num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, scale=4, act_type="prelu")
    path = save_model(Path("tiny.safetensors"), net, source="test", source_sha256=None, fp16_rounded=False)
    return str(path)


def _suite(model: str, out: str, *extra: str) -> int:
    return main(
        [
            "evaluate-all",
            "--params",
            str(PARAMS),
            "--model",
            model,
            "--name",
            "tiny",
            "--source",
            "retrained-smoke",
            "--test-root",
            "test",
            "--val",
            "val",
            "--val-extra",
            "val-extra",
            "--out",
            out,
            "--threads",
            "1",
            "--no-progress",
            *extra,
        ]
    )


def _single(model: str, dataset: str, inp: str, out: str, *extra: str) -> int:
    return main(
        [
            "evaluate",
            "--params",
            str(PARAMS),
            "--model",
            model,
            "--name",
            "tiny",
            "--source",
            "retrained-smoke",
            "--dataset",
            dataset,
            "--input",
            inp,
            "--out-images",
            f"{out}/{dataset}/images",
            "--out-metrics",
            f"{out}/{dataset}/metrics.csv",
            "--threads",
            "1",
            "--no-progress",
            *extra,
        ]
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_one_process_gives_the_files_of_one_evaluate_per_set(sets, model):
    require_mirror("metrics")
    p = sets["params"].active
    assert _suite(model, "suite/tiny") == 0

    val_metrics = ",".join(p.validation.metrics)
    for name in p.evaluate.test_sets:
        assert _single(model, name, f"test/{name}/{name}", "single/tiny") == 0
    val = sets["val_name"]
    extra = [(val, "val")] + [(f"{val}-{v}", f"val-extra/{v}") for v in p.validation.extra_variants]
    for dataset, root in extra:
        args = ("--reference", f"{root}/gt", "--metrics", val_metrics, "--max-images", "0")
        assert _single(model, dataset, f"{root}/lq", "single/tiny", *args) == 0

    suite, single = _files(Path("suite/tiny")), _files(Path("single/tiny"))
    expected_sets = {*p.evaluate.test_sets, *(d for d, _ in extra)}
    assert {Path(k).parts[0] for k in suite} == expected_sets | {".replication-output"}
    metas = [k for k in single if k.endswith(".meta.json")]
    assert len(metas) == len(expected_sets)
    for key, data in single.items():
        if key in metas:  # the same provenance but for where the images were written
            a, b = json.loads(suite[key]), json.loads(data)
            assert a.pop("out_images").startswith("suite/") and b.pop("out_images").startswith("single/")
            assert a == b, key
        else:
            assert suite[key] == data, key  # SR images and metric CSVs, byte for byte
    rows = (Path("suite/tiny") / val / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * len(p.validation.metrics)  # two pairs, every validation metric


def test_refuses_a_folder_that_is_not_its_own(sets, model, capsys):
    Path("mine").mkdir()
    (Path("mine") / "notes.txt").write_text("keep me")
    assert _suite(model, "mine") == 2
    assert "--out mine" in capsys.readouterr().err
    assert sorted(p.name for p in Path("mine").iterdir()) == ["notes.txt"]


def test_missing_extra_set_and_no_set_are_clear_errors(sets, model, capsys):
    import shutil

    shutil.rmtree("val-extra")
    assert _suite(model, "out") == 1
    err = capsys.readouterr().err
    assert "val-extra/first_order/lq: folder not found" in err and "Traceback" not in err
    assert not Path("out").exists()  # refused before anything was written

    args = ["--params", str(PARAMS), "--model", "bicubic", "--name", "bicubic", "--source", "bicubic"]
    code = main(["evaluate-all", *args, "--out", "out2"])
    assert code == 2 and "nothing to evaluate" in capsys.readouterr().err
    bad = ["--params", str(PARAMS), "--model", model, "--name", "m", "--source", "bicubic", "--val", "val"]
    assert main(["evaluate-all", *bad, "--out", "out3"]) == 2  # a flag value that does not fit: usage error
    assert "--model bicubic goes with --source bicubic" in capsys.readouterr().err
    assert not Path("out3").exists()
