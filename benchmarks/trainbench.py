"""What the training benchmarks share (``gpu_check.py``, ``bench_train.py``): a params file for one
profile, one trainer builder, and the official BasicSR/Real-ESRGAN training model built from the same
values, so the two benchmarks cannot drift apart (they did: both wrote the default profile's
``pipeline:`` lists into a params file for ``paper``, which then failed to load).

``write_params`` keeps the named profile active and rewrites only what a benchmark needs: batch and
GT size, an untrained VGG19 (its weights do not change the speed), a generator from scratch (nothing
to download), and with ``tiny`` a small RRDBNet and pool so the same code runs in seconds on a CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "benchmarks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# The paper's generator (RRDBNet), tiny: the architecture of the real runs at a size a CPU test affords.
TINY_NETWORK = {"arch": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4, "disc_num_feat": 8}
TINY_POOL = 4  # training-pair pool of the tiny runs (the paper's 180 would take 90 tiny syntheses to fill)
TINY_GT_CROP = 128  # GT crops synthesised from in the tiny runs (the smoke profile's; the paper's: 400)
FAR = 10**7  # iterations / checkpoint / log intervals the benchmarks never reach


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_params(
    tmp: Path,
    profile: str,
    *,
    batch_size: int,
    gt_size: int,
    tiny: bool,
    name: str = "",
    iters: int = FAR,
    vgg_weights: str | None = "untrained",
) -> Path:
    """A params file with ``profile`` active and its ``pipeline:`` lists derived for that profile.
    ``iters`` (also every checkpoint/log interval) and ``vgg_weights`` (None: the profile's own) let a
    test train the profile for real at tiny size."""
    from replication.params import Profile, load_params
    from replication.report.config import expected_pipeline_lists
    from replication.strict import from_dict, to_dict
    from replication.train.config import VariantConfig

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["profile"] = profile
    raw["mirror"] = ""
    prof = raw["profiles"][profile]
    prof["network"] = dict(TINY_NETWORK) if tiny else dict(prof["network"])
    prof["network"]["net_init"] = "scratch"
    if tiny:
        prof["degradation"].update(pool_size=TINY_POOL, gt_crop=TINY_GT_CROP)
        prof["validation"]["gt_size"] = min(prof["validation"]["gt_size"], TINY_GT_CROP)
    for phase in ("train_net", "train_gan"):
        prof[phase].update(
            batch_size=batch_size,
            gt_size=gt_size,
            iters=iters,
            ckpt_every=iters,
            log_every=iters,
            sample_every=iters,
        )
        if vgg_weights is not None:
            prof[phase]["vgg_weights"] = vgg_weights
    variants = {k: from_dict(VariantConfig, v) for k, v in raw["variants"].items()}
    raw["pipeline"] = to_dict(expected_pipeline_lists(from_dict(Profile, prof), variants, profile))
    path = tmp / f"params_{name or profile}.yaml"
    path.write_text(yaml.safe_dump(raw))
    load_params(path)  # fail here, naming the key, rather than inside a timed section
    return path


def build(params: Path, data: Path, phase: str, device: str, amp: str, channels_last: bool, compile_: bool = False):
    """The trainer ``replication train`` builds (variant ``full``, seed 0, scratch init)."""
    from replication.train import distributed
    from replication.train.loop import RunOptions, build_trainer, preflight

    opts = RunOptions(
        params_path=params,
        profile=None,
        variant="full",
        phase=phase,
        data=data,
        out=params.parent / "run",
        init="scratch",
        models_dir=params.parent,
        vgg_weights=params,
        device=device,
        amp=amp,
        channels_last=channels_last,
        compile=compile_,
    )
    return build_trainer(preflight(opts), opts, distributed.setup(device))


def build_official(off, params: Path, phase: str, tmp: Path, device: torch.device):
    """The official Real-ESRNet / Real-ESRGAN model, built from our values for variant ``full``.

    Its constructors move DiffJPEG/USM and the pair pool to CUDA unconditionally; we run the
    base-class constructors instead, give it DiffJPEG/USM on ``device``, and substitute our pool (the
    same rule) for its CUDA queue, so the same builder serves the CPU and a GPU. The VGG19 of the
    perceptual loss is untrained (speed does not depend on the weights).
    """
    import basicsr.archs.vgg_arch as vgg_arch
    import torchvision
    from basicsr.models.sr_model import SRModel
    from basicsr.models.srgan_model import SRGANModel
    from bench_degradation import official_opt

    from replication.degrade.pool import TrainingPairPool
    from replication.params import load_params

    params_obj = load_params(params)
    profile, variant = params_obj.active, params_obj.variant("full")
    cfg, net = profile.degradation, profile.network
    train_cfg = profile.train_net if phase == "net" else profile.train_gan
    vgg_path = tmp / "vgg19_untrained.pth"
    if phase == "gan" and not vgg_path.exists():
        torch.save(torchvision.models.vgg19().state_dict(), vgg_path)
    vgg_arch.VGG_PRETRAIN_PATH = str(vgg_path)
    adam = dict(type="Adam", lr=train_cfg.lr, weight_decay=0, betas=list(train_cfg.betas))
    train = dict(
        ema_decay=train_cfg.ema_decay,
        optim_g=dict(adam),
        scheduler=dict(type="MultiStepLR", milestones=list(train_cfg.lr_milestones), gamma=train_cfg.lr_gamma),
        pixel_opt=dict(type="L1Loss", loss_weight=train_cfg.l1_weight, reduction="mean"),
    )
    if phase == "gan":
        train.update(
            optim_d=dict(adam),
            perceptual_opt=dict(
                type="PerceptualLoss", layer_weights=dict(train_cfg.perceptual_layers), vgg_type="vgg19",
                use_input_norm=True, perceptual_weight=train_cfg.perceptual_weight, style_weight=0,
                range_norm=False, criterion="l1",
            ),
            gan_opt=dict(type="GANLoss", gan_type="vanilla", real_label_val=1.0, fake_label_val=0.0,
                         loss_weight=train_cfg.gan_weight),
            net_d_iters=1, net_d_init_iters=0,
        )  # fmt: skip
    opt = dict(
        official_opt(cfg, train_cfg.gt_size),
        num_gpu=1 if device.type == "cuda" else 0, dist=False, is_train=True, rank=0, world_size=1, path={},
        queue_size=cfg.pool_size,
        network_g=dict(type="RRDBNet", num_in_ch=3, num_out_ch=3, num_feat=net.num_feat, num_block=net.num_block,
                       num_grow_ch=net.num_grow_ch),
        network_d=dict(type="UNetDiscriminatorSN", num_in_ch=3, num_feat=net.disc_num_feat, skip_connection=True),
        train=train,
    )  # fmt: skip
    # What the variant's sharpened GT means in the official options: Real-ESRNet's `gt_usm`, and the
    # GAN model's L1/perceptual targets (its `gan_gt_usm` is the phase's own key).
    opt.update(l1_gt_usm=variant.sharpened_gt, percep_gt_usm=variant.sharpened_gt, gan_gt_usm=train_cfg.gan_gt_usm)
    if phase == "net":
        opt["gt_usm"] = variant.sharpened_gt
    cls = off.NetModel if phase == "net" else off.Model
    model = cls.__new__(cls)
    (SRModel if phase == "net" else SRGANModel).__init__(model, opt)
    model.jpeger = off.DiffJPEG(differentiable=False).to(device)
    model.usm_sharpener = off.USMSharp().to(device)
    model.queue_size = cfg.pool_size
    pool = TrainingPairPool(cfg.pool_size, seed=0)

    def dequeue_and_enqueue():
        model.lq, model.gt = pool(model.lq, model.gt)

    model._dequeue_and_enqueue = dequeue_and_enqueue
    return model, cfg


def time_official(off, params: Path, phase: str, t, steps: int, tmp: Path) -> float:
    """Seconds per official training step (fp32, ``feed_data`` + ``optimize_parameters``) on GT
    batches read by our trainer ``t``, on ``t``'s device. The kernels are drawn outside the timed
    step, as the official data loader's workers draw them."""
    from bench_degradation import official_kernels

    from replication.train.loop import next_gt_batch

    model, cfg = build_official(off, params, phase, tmp, t.device)
    spent = 0.0
    for it in range(steps + 1):  # the first step warms up
        data = {"gt": next_gt_batch(t), **official_kernels(off, cfg, t.cfg.batch_size)}
        sync(t.device)
        t0 = time.perf_counter()
        model.feed_data(data)
        model.optimize_parameters(it + 1)
        sync(t.device)
        if it:
            spent += time.perf_counter() - t0
    return spent / steps


__all__ = ["TINY_GT_CROP", "TINY_NETWORK", "build", "build_official", "sync", "time_official", "write_params"]
