"""The ``study-gpu`` profile (docs/study.md): it loads, its DVC graph fans out as the protocol says, and
its training stages run, at tiny size, as ``dvc.yaml`` runs them.

Running the profile whole takes a day on a GPU; here its graph is resolved by DVC in a copy of the
project and one seed's two training stages run with the network shrunk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_runs import check_graph

from replication.params import load_params
from replication.params_cli import switch_profile
from replication.report.config import expected_pipeline_lists

ROOT = Path(__file__).resolve().parents[1]
CLAIM_VARIANTS = ("full", "first_order", "no_sinc", "vgg_disc", "unet_no_sn")


def test_profile_makes_the_claims_measurable():
    p = load_params(ROOT / "params.yaml", profile="study-gpu").active
    assert len(p.seeds) >= 5
    assert p.network.arch == "rrdbnet" and (p.network.num_feat, p.network.num_block) == (64, 23)
    assert p.network.net_init == "esrgan_df2kost"  # Real-ESRNet starts from ESRGAN, as the paper's
    for cfg in (p.train_net, p.train_gan):
        assert cfg.vgg_weights == "imagenet_if_present" and cfg.batch_size == 12 and cfg.gt_size == 256
        assert cfg.precision == "bf16"  # declared: the paper trained in fp32
    # A GAN phase long enough for the discriminators to learn, logged densely enough for the
    # instability line (the second half of the logged points).
    assert p.train_gan.iters >= 2000 and p.train_gan.iters // p.train_gan.log_every >= 40
    assert p.real_scale is False  # not the paper's recipe: the report labels it


def test_switch_writes_consistent_lists_and_dvc_accepts_the_graph(tmp_path):
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True)
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    switch_profile(str(tmp_path / "params.yaml"), "study-gpu")
    params = load_params(tmp_path / "params.yaml")  # fails if the pipeline lists disagree
    assert params.profile == "study-gpu"
    lists = expected_pipeline_lists(params.active, params.variants, params.profile)
    assert params.pipeline == lists and lists.report_dir == "reports/study-gpu"
    for variant in CLAIM_VARIANTS:
        assert {r for r in lists.gan_runs if r.startswith(f"{variant}-s")} == {
            f"{variant}-s{s}" for s in params.active.seeds
        }
    assert lists.pretrained == ("esrgan_df2kost",)
    check_graph(tmp_path)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_STUDIO_OFFLINE": "1"}
    dag = subprocess.run(
        ["dvc", "dag", "--dot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert dag.returncode == 0, dag.stderr[-2000:]
    last = max(params.active.seeds)
    for stage in (f"train_gan@vgg_disc-s{last}", f"train_net@no_sinc-s{last}", f"eval_gan@unet_no_sn-s{last}"):
        assert stage in dag.stdout


@pytest.mark.slow
def test_training_stages_run_at_tiny_size(tmp_path):
    """The two training commands of dvc.yaml for one seed of study-gpu, with the profile's own
    precision, VGG rule (ImageNet weights absent here: the declared substitute) and degradation; only
    the network, batch, patch and pool are shrunk."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gpu_check import make_store
        from trainbench import write_params
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    params = write_params(
        tmp_path, "study-gpu", batch_size=2, gt_size=32, tiny=True, name="tiny", iters=1, vgg_weights=None
    )
    store = make_store(tmp_path, 128, count=2)
    seed = max(load_params(params).active.seeds)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    common = ["--params", str(params), "--threads", "1", "--variant", "full", "--seed", str(seed), "--data", str(store)]
    common += ["--models-dir", str(tmp_path / "none"), "--vgg-weights", str(tmp_path / "none" / "vgg19.pth")]
    net = tmp_path / "runs" / "net"
    gan = tmp_path / "runs" / "gan"
    for extra in (
        ["--phase", "net", "--out", str(net), "--init", "scratch"],
        ["--phase", "gan", "--out", str(gan), "--init", str(net / "model.safetensors")],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "replication", "train", *common, *extra],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    import json

    meta = json.loads((gan / "model.json").read_text())
    text = json.dumps(meta)
    assert "bf16" in text and "untrained" in text  # precision and VGG substitute recorded
