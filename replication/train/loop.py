"""The training loop of both phases: Real-ESRNet (L1) and Real-ESRGAN (L1 + perceptual + GAN).

Read top to bottom: :func:`train` checks everything up front (:func:`preflight`), builds the nets,
optimisers and generators, resumes from the newest valid checkpoint, then repeats
``gt batches -> net_step | gan_step -> log / sample / checkpoint`` and finally publishes the EMA
generator as ``OUT/model.safetensors``. Each phase's step is one function that does the whole
optimizer step (synthesis on the training device, pool, forward, losses, updates, EMA), following the
reference's order (docs/reference-notes.md §1, §7).

One optimizer step trains ``processes x accumulation`` micro-batches of ``batch_size``. Micro-batch
``k = rank * accumulation + a`` is a *stream* with its own sampler shard, data generator, degradation
generator and training-pair pool (what one GPU of the reference owns), so the step's total batch and
its randomness are the same however it is split between processes and accumulation
(docs/pipeline.md, "Training on 1 to N GPUs").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import torch
from torch import nn

from replication.archs.checkpoint import load_strict, save_model
from replication.archs.registry import build_arch
from replication.data.subimages import SubImageStore
from replication.errors import UsageError, UserError
from replication.fsutil import sha256_file, write_text_atomic
from replication.names import Phase
from replication.paramfile import fingerprint
from replication.strict import to_dict
from replication.train import distributed, state
from replication.train.config import BOOKKEEPING_FIELDS, PhaseConfig, VariantConfig
from replication.train.ema import EMA, unwrap
from replication.train.guard import check_paper_scale, paper_scale_deviations
from replication.train.logging import TrainLogger, sample_grid
from replication.train.losses import PerceptualLoss, gan_loss, l1_loss
from replication.train.precision import resolve_amp
from replication.train.reader import GTReader, decode_pool
from replication.train.sampler import EpochSampler, derive_seed
from replication.train.settings import TrainParams, TrainProfile, load_train_params
from replication.train.synthesis import Synthesizer

PHASE_TITLES = {"net": "Real-ESRNet", "gan": "Real-ESRGAN"}


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; the message names the step and the loss."""


@dataclass(frozen=True)
class RunOptions:
    """What the command line chose (experiment values come from params.yaml, not from here)."""

    params_path: Path
    profile: str | None
    variant: str
    phase: Phase
    data: Path
    out: Path
    init: str | None  # .safetensors path, weights-registry name, "scratch", or None (phase default)
    models_dir: Path
    vgg_weights: Path
    device: str = "cpu"
    amp: Literal["none", "bf16"] | None = None  # None: the phase's `precision`
    channels_last: bool | None = None  # None: on CUDA yes, on the CPU no (the CPU bytes stay as they were)
    compile: bool = False
    on_mismatch: Literal["restart", "fail"] = "restart"
    max_steps: int | None = None
    seed: int | None = None  # this run's seed (dvc.yaml passes it); None: the profile's first seed
    allow_deviation: bool = False  # real_scale profile trained off the paper's batch/precision (recorded)
    read_workers: int = 1  # threads decoding the next GT batches during the step (0: read in line)


# ---------------------------------------------------------------------------------------------
# Up-front checks


@dataclass(frozen=True)
class Plan:
    """Everything resolved and checked before any work starts."""

    params: TrainParams
    profile: TrainProfile
    variant: VariantConfig
    cfg: PhaseConfig
    seed: int  # this run's seed
    init_path: Path | None  # None: scratch
    init_sha256: str | None
    vgg_path: Path | None  # None: untrained extractor (declared deviation) or the net phase
    amp: Literal["none", "bf16"]  # resolved: --amp, else the phase's precision on this hardware
    channels_last: bool  # resolved: --channels-last / --no-channels-last, else CUDA only
    deviations: tuple[str, ...]
    store: SubImageStore


def resolve_init(opts: RunOptions, profile: TrainProfile) -> Path | None:
    """The initial generator weights file (None = from scratch); a clear error if it is missing."""
    init = opts.init
    if init is None:
        if opts.phase == "gan":
            raise UserError(
                "--phase gan needs --init: the Real-ESRNet model (e.g. runs/<variant>-s<seed>/net/model.safetensors)"
            )
        init = profile.network.net_init
    if init == "scratch":
        return None
    path = Path(init)
    if path.suffix == ".safetensors" or "/" in init or path.exists():
        if not path.is_file():
            raise UserError(f"--init {init}: file not found")
        return path
    # A weights-registry name (the registry itself is not imported: the trainer must not depend on it;
    # `replication params --check` and `weights fetch` check the name).
    path = opts.models_dir / f"{init}.safetensors"
    if not path.is_file():
        raise UserError(
            f"initial weights {init!r} not found at {path}: run "
            f"`replication weights fetch {init} --out {path}` (or pass --init FILE / --init scratch)"
        )
    return path


def preflight(opts: RunOptions) -> Plan:
    """Validate params, variant, data, init weights and VGG weights; raise UserError on any problem."""
    # Only the sections this phase reads (checked there, gt_size rules included): train.settings.
    params = load_train_params(opts.params_path, opts.profile, opts.variant, opts.phase, opts.seed)
    profile = params.active
    variant = params.variant
    cfg = profile.phase
    section = f"profiles.{params.profile}.train_{opts.phase}"
    seed = params.seed
    if opts.max_steps is not None and opts.max_steps <= 0:
        raise UsageError(f"--max-steps must be positive, got {opts.max_steps}")
    if opts.read_workers < 0:
        raise UsageError(f"--read-workers must be >= 0, got {opts.read_workers}")
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    from replication.degrade.pipeline import Degrader

    min_gt = Degrader(profile.degradation, variant.degradation, profile.scale).min_gt_size
    if profile.degradation.gt_crop < min_gt:
        raise UserError(
            f"profiles.{params.profile}.degradation.gt_crop {profile.degradation.gt_crop} is too small for the "
            f"{variant.degradation} degradation (needs >= {min_gt})"
        )
    if cfg.gt_size <= profile.degradation.usm.kernel_size // 2:
        raise UserError(
            f"{section}.gt_size {cfg.gt_size} must exceed half the USM kernel ({profile.degradation.usm.kernel_size})"
        )
    if not opts.data.is_dir():
        raise UserError(f"--data {opts.data}: not a directory (run `replication prepare` first)")
    store = SubImageStore(opts.data)
    if len(store) == 0:
        raise UserError(f"--data {opts.data}: no training sub-images")
    init_path = resolve_init(opts, profile)
    deviations: list[str] = []
    vgg_path = None
    if opts.phase == "gan" and cfg.perceptual_weight > 0:
        if cfg.vgg_weights == "imagenet":
            if not opts.vgg_weights.is_file():
                raise UserError(
                    f"{section}.vgg_weights is 'imagenet' but {opts.vgg_weights} does not exist: run "
                    f"`replication weights fetch vgg19_imagenet --out {opts.vgg_weights}` "
                    f"(or set vgg_weights: untrained, a declared deviation)"
                )
            vgg_path = opts.vgg_weights
        elif cfg.vgg_weights == "imagenet_if_present" and opts.vgg_weights.is_file():
            vgg_path = opts.vgg_weights
        elif cfg.vgg_weights == "imagenet_if_present":
            deviations.append(
                "perceptual loss uses an UNTRAINED (seeded random) VGG19 as a declared substitute: the ImageNet "
                f"VGG19 was not found at {opts.vgg_weights} ({section}.vgg_weights: imagenet_if_present)"
            )
        else:
            deviations.append(
                "perceptual loss uses an UNTRAINED (seeded random) VGG19, not ImageNet weights "
                f"({section}.vgg_weights: untrained)"
            )
    if not profile.real_scale:
        deviations.append(f"profile {params.profile!r} is not at the paper's scale (real_scale: false)")
    return Plan(
        params=params,
        profile=profile,
        variant=variant,
        cfg=cfg,
        seed=seed,
        init_path=init_path,
        init_sha256=sha256_file(init_path) if init_path else None,
        vgg_path=vgg_path,
        amp=resolve_amp(opts.amp, cfg.precision, opts.device),
        channels_last=opts.device == "cuda" if opts.channels_last is None else opts.channels_last,
        deviations=tuple(deviations),
        store=store,
    )


def fingerprint_sections(plan: Plan, opts: RunOptions, world_size: int) -> dict[str, str]:
    """Per-section hashes of everything that changes the training trajectory (bookkeeping excluded)."""
    # accumulation has its own section, present only when > 1: runs made before it existed (always 1)
    # keep their fingerprints, so their checkpoints still resume.
    skip = {*BOOKKEEPING_FIELDS, "accumulation"}
    phase_cfg = {k: v for k, v in to_dict(plan.cfg).items() if k not in skip}
    variant = {k: v for k, v in to_dict(plan.variant).items() if k != "description"}
    sections = {
        "phase": fingerprint(opts.phase),
        "scale_seed": fingerprint({"scale": plan.profile.scale, "seed": plan.seed}),
        "degradation": fingerprint(plan.profile.degradation),
        "network": fingerprint(plan.profile.network),
        f"train_{opts.phase}": fingerprint(phase_cfg),
        "variant": fingerprint(variant),
        "init": fingerprint(plan.init_sha256 or "scratch"),
        "vgg": fingerprint(sha256_file(plan.vgg_path) if plan.vgg_path else "untrained"),
        "data": fingerprint(sha256_file(opts.data / "meta_info.txt")),
        "world_size": fingerprint(world_size),
        "amp": fingerprint(plan.amp),
    }
    if plan.cfg.accumulation != 1:
        sections["accumulation"] = fingerprint(plan.cfg.accumulation)
    return sections


# ---------------------------------------------------------------------------------------------
# What one process trains with


@dataclass
class Stream:
    """One micro-batch of every optimizer step: what one GPU of the reference owns for itself.

    Its index ``k = rank * accumulation + a`` (of ``processes x accumulation``) seeds its degradation
    generator, training-pair pool and data generator and picks its sampler shard, so the k-th
    micro-batch is the same whether process k trains it or process 0 accumulates it.
    """

    index: int
    synth: Synthesizer
    reader: GTReader


@dataclass
class Trainer:
    phase: Phase
    cfg: PhaseConfig
    scale: int
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    g: nn.Module  # the generator (plain module)
    g_train: nn.Module  # what the step calls: g, DDP(g) and/or compiled
    ema: EMA
    opt_g: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    streams: list[Stream]  # this process's micro-batches, in accumulation order
    decode_pool: ThreadPoolExecutor | None = None  # shared by the streams' readers
    d: nn.Module | None = None
    d_train: nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    sched_d: torch.optim.lr_scheduler.LRScheduler | None = None
    perceptual: PerceptualLoss | None = None
    # (lq, loss target) of the last step's first micro-batch, for samples
    last_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def synth(self) -> Synthesizer:
        """The first micro-batch's synthesizer (the only one without accumulation)."""
        return self.streams[0].synth

    def close(self) -> None:
        """Stop the background readers."""
        for stream in self.streams:
            stream.reader.close()
        if self.decode_pool is not None:
            self.decode_pool.shutdown(wait=True, cancel_futures=True)

    def gan_parts(
        self,
    ) -> tuple[nn.Module, nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """(D, the D module the step calls, D's optimiser, D's scheduler): set in the GAN phase only."""
        if self.d is None or self.d_train is None or self.opt_d is None or self.sched_d is None:
            raise RuntimeError("the Real-ESRNet phase has no discriminator")
        return self.d, self.d_train, self.opt_d, self.sched_d

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def to_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def next_gt_batches(t: Trainer) -> list[torch.Tensor]:
    """One (B, 3, gt_crop, gt_crop) GT batch per micro-batch, on the training device (read ahead)."""
    return [s.reader.next().to(t.device, non_blocking=True) for s in t.streams]


def next_gt_batch(t: Trainer) -> torch.Tensor:
    """The GT batch of a trainer without accumulation (one micro-batch per step)."""
    if len(t.streams) != 1:
        raise ValueError(f"this trainer accumulates {len(t.streams)} micro-batches: use next_gt_batches")
    return next_gt_batches(t)[0]


def _micro_batches(t: Trainer, gt: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    gts = [gt] if isinstance(gt, torch.Tensor) else list(gt)
    if len(gts) != len(t.streams):
        raise ValueError(f"{len(gts)} GT batches for {len(t.streams)} micro-batches")
    return gts


def _sync_unless_last(module: nn.Module, last: bool):
    """Under DDP, all-reduce gradients only in the step's last backward through ``module``."""
    return contextlib.nullcontext() if last else distributed.no_sync(module)


def _share(loss: torch.Tensor, n: int) -> torch.Tensor:
    """A micro-batch's part of the step's loss: the mean over all micro-batches, as one big batch."""
    return loss if n == 1 else loss / n


def _mean_losses(per_micro: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    if len(per_micro) == 1:
        return per_micro[0]
    return {k: torch.stack([m[k] for m in per_micro]).mean() for k in per_micro[0]}


@contextlib.contextmanager
def _power_iteration(d: nn.Module, advance: bool) -> Iterator[None]:
    """Spectral norm's power iteration runs at each training forward of D. Per optimizer step the
    reference advances it once per D call on every GPU (all GPUs hold the same vectors), so the
    micro-batches after the first use the vectors as they are (``advance=False``)."""
    if advance:
        yield
        return
    paused = [m for m in d.modules() if hasattr(m, "weight_orig") and m.training]
    for m in paused:  # only the normalised convolutions: BatchNorm keeps training mode
        m.training = False
    try:
        yield
    finally:
        for m in paused:
            m.training = True


def net_step(t: Trainer, gt: torch.Tensor | Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """One Real-ESRNet optimizer step: per micro-batch synthesise, pool, L1 against the (USM-sharpened)
    GT and back-propagate its share; then one Adam step, one schedule step, one EMA update."""
    gts = _micro_batches(t, gt)
    n = len(gts)
    t.opt_g.zero_grad(set_to_none=True)
    losses = []
    for a, (stream, gt_a) in enumerate(zip(t.streams, gts, strict=True)):
        with torch.no_grad():
            lq, target = stream.synth.net_pair(gt_a)
        lq, target = t.to_format(lq), t.to_format(target)
        with _sync_unless_last(t.g_train, a == n - 1):
            with t.autocast():
                sr = t.g_train(lq)
            l_pix = t.cfg.l1_weight * l1_loss(sr.float(), target)
            _share(l_pix, n).backward()
        losses.append({"l_g_pix": l_pix.detach()})
        if a == 0:
            t.last_batch = (lq, target)
    t.opt_g.step()
    t.sched_g.step()
    t.ema.update(t.g)
    return _mean_losses(losses)


def gan_step(t: Trainer, gt: torch.Tensor | Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """One Real-ESRGAN optimizer step (reference order): G step with D frozen, then D step, then EMA.

    G: L1(sr, target) + perceptual(sr, target) + gan_weight * BCE(D(sr), real); target = gt_usm
    for sharpened-GT variants, else gt.
    D: BCE(D(gt), real) + BCE(D(sr.detach()), fake), the two gradients accumulated, unweighted.
    With accumulation every micro-batch back-propagates its share of G's loss before G's one step,
    then every micro-batch's real, then every fake, before D's one step (docs/reference-notes.md §7).
    """
    cfg = t.cfg
    d, d_train, opt_d, sched_d = t.gan_parts()
    gts = _micro_batches(t, gt)
    n = len(gts)

    # Generator. D's parameters are frozen; under DDP the plain D module is called so that its
    # (unused) gradient buckets are not armed. Its spectral-norm vectors still advance, as in the reference.
    d_plain = unwrap(d)
    d_plain.requires_grad_(False)
    t.opt_g.zero_grad(set_to_none=True)
    for_d: list[tuple[torch.Tensor, torch.Tensor]] = []  # (D's real input, sr detached) per micro-batch
    g_losses = []
    for a, (stream, gt_a) in enumerate(zip(t.streams, gts, strict=True)):
        with torch.no_grad():
            lq, gt_crop, target = stream.synth.gan_triplet(gt_a)
        lq, gt_crop, target = t.to_format(lq), t.to_format(gt_crop), t.to_format(target)
        l1_target = percep_target = target  # USM(gt) or gt: the variant's sharpened_gt
        with _sync_unless_last(t.g_train, a == n - 1), _power_iteration(d_plain, a == 0):
            with t.autocast():
                sr = t.g_train(lq)
                fake_logits_g = d_plain(sr)
            sr32 = sr.float()
            l_pix = cfg.l1_weight * l1_loss(sr32, l1_target)
            with t.autocast():
                l_percep = (
                    cfg.perceptual_weight * t.perceptual(sr, percep_target) if t.perceptual else sr32.new_zeros(())
                )
            l_gan = cfg.gan_weight * gan_loss(fake_logits_g.float(), True)
            _share(l_pix + l_percep + l_gan, n).backward()
        for_d.append((target if cfg.gan_gt_usm else gt_crop, sr.detach()))
        g_losses.append({"l_g_pix": l_pix.detach(), "l_g_percep": l_percep.detach(), "l_g_gan": l_gan.detach()})
        if a == 0:
            t.last_batch = (lq, l1_target)
    t.opt_g.step()

    # Discriminator: real then fake, gradients summed before one step (DDP syncs once, at the last fake).
    d_plain.requires_grad_(True)
    opt_d.zero_grad(set_to_none=True)
    d_losses: list[dict[str, torch.Tensor]] = [{} for _ in for_d]
    for a, (real, _) in enumerate(for_d):
        with distributed.no_sync(d_train), _power_iteration(d_plain, a == 0):
            with t.autocast():
                real_logits = d_train(real)
            l_d_real = gan_loss(real_logits.float(), True)
            _share(l_d_real, n).backward()
        d_losses[a].update(l_d_real=l_d_real.detach(), out_d_real=real_logits.detach().float().mean())
    for a, (_, sr_detached) in enumerate(for_d):
        with _sync_unless_last(d_train, a == n - 1), _power_iteration(d_plain, a == 0):
            with t.autocast():
                fake_logits = d_train(sr_detached.clone())
            l_d_fake = gan_loss(fake_logits.float(), False)
            _share(l_d_fake, n).backward()
        d_losses[a].update(l_d_fake=l_d_fake.detach(), out_d_fake=fake_logits.detach().float().mean())
    opt_d.step()

    t.sched_g.step()
    sched_d.step()
    t.ema.update(t.g)
    losses = [{**g, **dl} for g, dl in zip(g_losses, d_losses, strict=True)]
    order = ("l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake")
    return dict(sorted(_mean_losses(losses).items(), key=lambda kv: order.index(kv[0])))


# ---------------------------------------------------------------------------------------------
# Building, saving and restoring


def _seeded(base: int, rank: int, name: str) -> int:
    """Per-rank stream seeds: the reference seeds rank r with seed + r; one stream per consumer here."""
    return derive_seed(base + rank, name)


def build_trainer(plan: Plan, opts: RunOptions, info: distributed.DistInfo) -> Trainer:
    profile, cfg, net = plan.profile, plan.cfg, plan.profile.network
    seed = plan.seed
    device = info.device
    g = build_arch(
        net.arch, num_in_ch=3, num_out_ch=3, scale=profile.scale, seed=seed, **net.generator_hyperparameters()
    )
    init_state = None
    if plan.init_path is not None:
        from safetensors.torch import load_file

        init_state = load_file(str(plan.init_path), device="cpu")
        load_strict(g, init_state, str(plan.init_path))
    g = g.to(device)
    ema = EMA(g, cfg.ema_decay)  # reference: EMA starts from the pretrained params_ema = our model file
    fmt = torch.channels_last if plan.channels_last else torch.contiguous_format
    g = g.to(memory_format=fmt)
    ema.model.to(memory_format=fmt)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=0.0)
    sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones=list(cfg.lr_milestones), gamma=cfg.lr_gamma)
    g_train = distributed.wrap_ddp(g, info)
    if opts.compile:
        g_train = cast(nn.Module, torch.compile(g_train))
    store = plan.store
    micro = info.world_size * cfg.accumulation  # micro-batches per optimizer step, over all processes
    if len(store) < micro:
        raise UserError(
            f"--data {opts.data}: {len(store)} sub-images cannot be shared by {micro} micro-batches "
            f"({info.world_size} process(es) x accumulation {cfg.accumulation})"
        )
    pool = decode_pool(opts.read_workers)
    streams = []
    for a in range(cfg.accumulation):
        k = info.rank * cfg.accumulation + a  # with accumulation 1: the rank, as before accumulation existed
        synth = Synthesizer(
            profile.degradation,
            plan.variant.degradation,
            profile.scale,
            cfg.gt_size,
            device,
            seed=_seeded(seed, k, "degradation"),
            pool_seed=_seeded(seed, k, "pool"),
            sharpened_gt=plan.variant.sharpened_gt,
        )
        reader = GTReader(
            store,
            EpochSampler(len(store), seed, k, micro),
            torch.Generator().manual_seed(_seeded(seed, k, "data")),  # GT crops / flips
            cfg.batch_size,
            profile.degradation.gt_crop,
            profile.degradation.hflip,
            decode_pool=pool,
            pin_memory=device.type == "cuda",
        )
        streams.append(Stream(index=k, synth=synth, reader=reader))
    t = Trainer(
        phase=opts.phase,
        cfg=cfg,
        scale=profile.scale,
        device=device,
        amp_dtype=torch.bfloat16 if plan.amp == "bf16" else None,
        channels_last=plan.channels_last,
        g=g,
        g_train=g_train,
        ema=ema,
        opt_g=opt_g,
        sched_g=sched_g,
        streams=streams,
        decode_pool=pool,
    )
    if opts.phase == "gan":
        _add_discriminator(t, plan, opts, info, fmt)
    g.train()
    return t


def _add_discriminator(
    t: Trainer, plan: Plan, opts: RunOptions, info: distributed.DistInfo, fmt: torch.memory_format
) -> None:
    """The GAN phase's discriminator, its optimiser and scheduler, and the perceptual loss."""
    profile, cfg, net = plan.profile, plan.cfg, plan.profile.network
    seed, device = profile.seed, info.device
    v = plan.variant
    if v.discriminator == "unet":
        d = build_arch(
            "unet_discriminator",
            num_in_ch=3,
            num_feat=net.disc_num_feat,
            skip_connection=True,
            spectral_norm=v.spectral_norm,
            seed=derive_seed(seed, "discriminator"),
        )
    else:  # VariantConfig.validate rejected spectral_norm with this discriminator at load time
        d = build_arch(
            "vgg_discriminator",
            num_in_ch=3,
            num_feat=net.disc_num_feat,
            input_size=cfg.gt_size,
            seed=derive_seed(seed, "discriminator"),
        )
    d = d.to(device).to(memory_format=fmt).train()
    t.d = d
    t.opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=0.0)
    t.sched_d = torch.optim.lr_scheduler.MultiStepLR(t.opt_d, milestones=list(cfg.lr_milestones), gamma=cfg.lr_gamma)
    d_train = distributed.wrap_ddp(d, info)
    t.d_train = cast(nn.Module, torch.compile(d_train)) if opts.compile else d_train
    if cfg.perceptual_weight > 0:
        t.perceptual = (
            PerceptualLoss(
                cfg.perceptual_layers,
                pretrained=plan.vgg_path is not None,
                weights_path=plan.vgg_path,
                seed=derive_seed(seed, "vgg19-untrained"),
            )
            .to(device)
            .to(memory_format=fmt)
        )


def shared_state(t: Trainer) -> dict:
    """What every rank has in common (saved once, by rank 0)."""
    out = {
        "g": unwrap(t.g).state_dict(),
        "ema": t.ema.state_dict(),
        "opt_g": t.opt_g.state_dict(),
        "sched_g": t.sched_g.state_dict(),
    }
    if t.d is not None:
        d, _, opt_d, sched_d = t.gan_parts()
        out.update(d=unwrap(d).state_dict(), opt_d=opt_d.state_dict(), sched_d=sched_d.state_dict())
    return out


def local_state(t: Trainer, log_window: dict) -> dict:
    """What this rank owns: per micro-batch stream its pool, RNG streams and data position (as consumed
    by the loop, not as read ahead); the log accumulators.

    One stream (no accumulation) keeps the layout checkpoints had before accumulation existed:
    ``pool``, ``rng``, ``sampler`` at the top; several are a list under ``streams``.
    """
    streams = []
    for stream in t.streams:
        sampler_state, data_state = stream.reader.state()
        rng = {"data": data_state, **stream.synth.rng_states()}
        streams.append({"pool": stream.synth.pool.state_dict(), "rng": rng, "sampler": sampler_state})
    if t.device.type == "cuda":  # one per process: kept with the first stream
        streams[0]["rng"]["cuda_default"] = torch.cuda.get_rng_state(t.device)
    own = streams[0] if len(streams) == 1 else {"streams": streams}
    return {**own, "log_window": log_window, "weights_sha256": weights_digest(t)}


def weights_digest(t: Trainer) -> str:
    """sha256 over this rank's G and D parameters: under DDP every rank must report the same value.

    Buffers are left out: BatchNorm running statistics (VGG-style D) follow each rank's own batches
    between DDP's buffer broadcasts; only rank 0's are saved.
    """
    digest = hashlib.sha256()
    for net in (t.g, t.d):
        if net is None:
            continue
        for name, tensor in unwrap(net).named_parameters():
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def restore(t: Trainer, loaded: state.Loaded) -> dict:
    """Load a checkpoint into ``t``; returns the log accumulators."""
    sh, lo = loaded.shared, loaded.local
    unwrap(t.g).load_state_dict(sh["g"])
    t.ema.load_state_dict(sh["ema"])
    t.opt_g.load_state_dict(sh["opt_g"])
    t.sched_g.load_state_dict(sh["sched_g"])
    if t.d is not None:
        d, _, opt_d, sched_d = t.gan_parts()
        unwrap(d).load_state_dict(sh["d"])
        opt_d.load_state_dict(sh["opt_d"])
        sched_d.load_state_dict(sh["sched_d"])
    saved = lo.get("streams", [lo])
    if len(saved) != len(t.streams):  # the fingerprint (accumulation section) rules this out
        raise state.CheckpointError(f"{loaded.path}: {len(saved)} micro-batch streams, this run has {len(t.streams)}")
    for stream, st in zip(t.streams, saved, strict=True):
        pool = dict(st["pool"])
        for key in ("lq", "gt"):
            if pool.get(key) is not None:
                pool[key] = pool[key].to(t.device)
        stream.synth.pool.load_state_dict(pool)
        rng = dict(st["rng"])
        data_state = rng.pop("data")
        if "cuda_default" in rng:
            torch.cuda.set_rng_state(rng.pop("cuda_default"), t.device)
        stream.synth.load_rng_states(rng)
        stream.reader.load_state(st["sampler"], data_state)
    return dict(lo["log_window"])


def save_checkpoint(
    t: Trainer,
    info: distributed.DistInfo,
    ckpt_dir: Path,
    step: int,
    fp: str,
    sections: dict,
    window: dict,
    log: TrainLogger,
) -> None:
    local = local_state(t, window)
    digests = distributed.all_gather_object(info, local["weights_sha256"])
    if len(set(digests)) != 1:  # DDP keeps replicas identical; anything else is a bug worth stopping for
        raise RuntimeError(f"step {step}: the {info.world_size} processes hold different weights ({digests})")
    if info.is_main:
        state.begin_checkpoint(ckpt_dir, step)
    distributed.barrier(info)
    state.write_rank_part(state.partial_dir(ckpt_dir, step), info.rank, local)
    distributed.barrier(info)
    if info.is_main:
        state.finish_checkpoint(ckpt_dir, step, info.world_size, fp, shared_state(t), {"sections": sections})
        state.prune(ckpt_dir, t.cfg.keep_checkpoints, log.message)
    distributed.barrier(info)


def choose_checkpoint(ckpt_dir: Path, fp: str, sections: dict, on_mismatch: str) -> Path | None:
    """(rank 0) The checkpoint to resume from, after handling damaged and mismatching ones."""
    state.remove_partials(ckpt_dir)
    found = state.latest_valid(ckpt_dir, lambda m: print(f"warning: {m}", file=sys.stderr))
    if found is None:
        if state.list_checkpoints(ckpt_dir):
            print(f"warning: no valid checkpoint in {ckpt_dir}; starting from scratch", file=sys.stderr)
        return None
    path, manifest = found
    if manifest["fingerprint"] == fp:
        return path
    old = manifest.get("info", {}).get("sections", {})
    changed = sorted(k for k in set(old) | set(sections) if old.get(k) != sections.get(k)) or ["(unknown)"]
    what = f"{path} was made with different parameters (changed: {', '.join(changed)})"
    if on_mismatch == "fail":
        raise UserError(f"{what}; rerun with --on-mismatch restart to move the old checkpoints aside")
    aside = state.move_aside(ckpt_dir, manifest["fingerprint"][:8])
    print(f"{what}: moved the old checkpoints to {aside} and starting fresh", file=sys.stderr)
    return None


# ---------------------------------------------------------------------------------------------
# The run


def train(opts: RunOptions) -> Path | None:
    """Run (or resume) one phase of one variant. Returns OUT/model.safetensors once training is complete."""
    plan = preflight(opts)
    info = distributed.setup(opts.device)
    try:
        return _train(plan, opts, info)
    finally:
        distributed.teardown(info)


def _train(plan: Plan, opts: RunOptions, info: distributed.DistInfo) -> Path | None:
    out = Path(opts.out)
    ckpt_dir = out / "checkpoints"
    sections = fingerprint_sections(plan, opts, info.world_size)
    fp = fingerprint(sections)
    scale_dev = _paper_scale(plan, opts, info)

    chosen = _chosen_checkpoint(info, out, ckpt_dir, fp, sections, opts.on_mismatch)
    t = build_trainer(plan, opts, info)
    try:
        return _run(t, plan, opts, info, chosen, fp, sections, scale_dev)
    finally:
        t.close()


def _run(
    t: Trainer,
    plan: Plan,
    opts: RunOptions,
    info: distributed.DistInfo,
    chosen: str | None,
    fp: str,
    sections: dict,
    scale_dev: list[str],
) -> Path | None:
    """Resume, then step, log, sample and checkpoint, then publish (the caller stops the readers)."""
    cfg = plan.cfg
    resumed = _resume(t, opts, info, chosen, cfg.iters)
    if resumed is None:
        return None
    start, last, window = resumed
    run_info = _run_info(plan, opts, info, fp, scale_dev)
    log = _open_log(plan, opts, info, chosen, start, run_info)
    try:
        _steps(t, opts, info, log, window, range(start + 1, last + 1), fp, sections)
    finally:
        log.close()
    if last < cfg.iters:
        if info.is_main:
            print(f"stopped after step {last} of {cfg.iters} (--max-steps); run again to continue", file=sys.stderr)
        return None
    return _publish(t, plan, opts, info, run_info)


def _resume(
    t: Trainer, opts: RunOptions, info: distributed.DistInfo, chosen: str | None, iters: int
) -> tuple[int, int, dict] | None:
    """Restore ``chosen`` (if any): (first step done, last step to run, logging window), or None when
    there is nothing to do."""
    ckpt_dir = Path(opts.out) / "checkpoints"
    start = 0
    window: dict = {}
    if chosen is not None:
        loaded = state.load_checkpoint(Path(chosen), info.rank)
        window = restore(t, loaded)
        start = loaded.step
    last = iters if opts.max_steps is None else min(iters, opts.max_steps)
    if start > iters:
        # iters is not part of the fingerprint (raising it extends a run), but a run cannot be shortened:
        # exporting the longer-trained weights under the smaller iters would misreport what was trained.
        raise UserError(
            f"{chosen} is at step {start}, beyond train_{opts.phase}.iters {iters}: raise iters to at least {start}, "
            f"or move {ckpt_dir} aside to train {iters} steps from the start"
        )
    if start > last:
        if info.is_main:
            print(f"{chosen} is already at step {start} (beyond --max-steps {last}); nothing to do", file=sys.stderr)
        return None
    return start, last, window


def _open_log(
    plan: Plan, opts: RunOptions, info: distributed.DistInfo, chosen: str | None, start: int, run_info: dict
) -> TrainLogger:
    """The DVCLive logger (rank 0 writes), with the run's description as its params."""
    out = Path(opts.out)
    title = PHASE_TITLES[opts.phase]
    log = TrainLogger(
        out / "dvclive",
        enabled=info.is_main,
        resume_step=start if chosen else None,
        start_step=start,
        total_steps=plan.cfg.iters,
        desc=f"{title} {opts.variant}",
    )
    log.params({k: ("; ".join(v) or "none") if isinstance(v, list) else v for k, v in run_info.items()})
    if info.is_main:
        record_session(out, start, info, opts, plan.amp, plan.channels_last)
    if chosen:
        log.message(f"resuming {title} from {chosen} (step {start})")
    for note in run_info["deviations"]:
        log.message(f"deviation: {note}")
    return log


def _steps(
    t: Trainer,
    opts: RunOptions,
    info: distributed.DistInfo,
    log: TrainLogger,
    window: dict,
    steps: range,
    fp: str,
    sections: dict,
) -> None:
    """The step loop: one optimizer step each, then logging, samples and checkpoints on their schedule."""
    cfg = t.cfg
    title = PHASE_TITLES[opts.phase]
    ckpt_dir = Path(opts.out) / "checkpoints"
    last = steps[-1] if steps else 0
    step_fn = net_step if opts.phase == "net" else gan_step
    sums: dict[str, float] = dict(window.get("sums", {}))
    count = int(window.get("count", 0))
    for step in steps:
        gts = next_gt_batches(t)
        current = _finite_losses(step_fn(t, gts), info, step, f"{title} {opts.variant}", ckpt_dir)
        for n, v in current.items():
            sums[n] = sums.get(n, 0.0) + v
        count += 1
        log.step(step, current)
        if step % cfg.log_every == 0:
            # Only values that repeat bit for bit go to DVCLive (its files are DVC outputs the
            # report reads); the speed is on the progress bar, and benchmarks/ measures it.
            metrics = {f"train/{n}": s / count for n, s in sums.items()}
            metrics["train/lr"] = t.opt_g.param_groups[0]["lr"]
            log.metrics(step, metrics)
            sums, count = {}, 0
        if step % cfg.sample_every == 0 and info.is_main:
            write_sample(t, log, step)
        if step % cfg.ckpt_every == 0 or step == last:
            save_checkpoint(t, info, ckpt_dir, step, fp, sections, {"sums": sums, "count": count}, log)


def _chosen_checkpoint(
    info: distributed.DistInfo, out: Path, ckpt_dir: Path, fp: str, sections: dict, on_mismatch: str
) -> str | None:
    """Rank 0 picks the checkpoint to resume from (or none) and every rank gets its path."""
    chosen = None
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        chosen = choose_checkpoint(ckpt_dir, fp, sections, on_mismatch)
    return distributed.broadcast_object(info, str(chosen) if chosen else None)


def _paper_scale(plan: Plan, opts: RunOptions, info: distributed.DistInfo) -> list[str]:
    """The paper-scale guard (replication.train.guard): refuse, or return the allowed deviations."""
    scale_dev = paper_scale_deviations(
        real_scale=plan.profile.real_scale,
        world_size=info.world_size,
        batch_size=plan.cfg.batch_size,
        amp=plan.amp,
        accumulation=plan.cfg.accumulation,
    )
    check_paper_scale(scale_dev, opts.allow_deviation, plan.params.profile)
    if plan.profile.real_scale and plan.amp == "none" and info.device.type == "cuda":
        # The paper's fp32 is true fp32: PyTorch lets cuDNN use TF32 convolutions on Ampere+ by default.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return scale_dev


def _run_info(plan: Plan, opts: RunOptions, info: distributed.DistInfo, fp: str, scale_dev: list[str]) -> dict:
    """The run's description: logged as DVCLive params and stored in the published model's sidecar.
    ``scale_dev``: departures from the paper's batch/precision (replication.train.guard)."""
    acc = plan.cfg.accumulation
    described = {
        "variant": opts.variant,
        "phase": opts.phase,
        "profile": plan.params.profile,
        "fingerprint": fp,
        "seed": plan.seed,
        "deviations": [*plan.deviations, *scale_dev],
        "paper_scale_deviations": scale_dev,
        "world_size": info.world_size,
        "total_batch": info.world_size * plan.cfg.batch_size * acc,
        "amp": plan.amp,
        "precision": plan.cfg.precision if opts.amp is None else f"--amp {opts.amp}",
        "channels_last": plan.channels_last,
        "compile": opts.compile,
        "init": str(plan.init_path) if plan.init_path else "scratch",
        "init_sha256": plan.init_sha256,
        "vgg_weights": str(plan.vgg_path) if plan.vgg_path else ("untrained" if opts.phase == "gan" else "n/a"),
        # what the perceptual loss really used: "imagenet", "untrained" or "n/a" (Real-ESRNet)
        "perceptual_vgg": ("imagenet" if plan.vgg_path else "untrained") if opts.phase == "gan" else "n/a",
    }
    if acc != 1:  # absent = 1: the metadata of runs without accumulation stays as it was
        described["accumulation"] = acc
    return described


def _finite_losses(
    losses: dict[str, torch.Tensor], info: distributed.DistInfo, step: int, what: str, ckpt_dir: Path
) -> dict[str, float]:
    """The step's losses as floats (one device sync); every rank stops if any rank saw a non-finite one."""
    names = list(losses)
    values = torch.stack([losses[n].float() for n in names]).tolist()  # one device sync per step
    bad = [n for n, v in zip(names, values, strict=True) if not math.isfinite(v)]
    if not distributed.all_true(info, not bad):
        where = f"loss {', '.join(bad)} = {[losses[n].item() for n in bad]}" if bad else "on another rank"
        raise TrainingDiverged(
            f"{what}: non-finite loss at step {step} ({where}); stopped. The last good "
            f"checkpoint in {ckpt_dir} is kept; lower the learning rate or try --amp none"
        )
    return dict(zip(names, values, strict=True))


def _publish(t: Trainer, plan: Plan, opts: RunOptions, info: distributed.DistInfo, run_info: dict) -> Path:
    """Write the EMA generator as ``OUT/model.safetensors`` (rank 0) once the phase is complete."""
    cfg = plan.cfg
    model_path = Path(opts.out) / "model.safetensors"
    if info.is_main:
        save_model(
            model_path,
            t.ema.model,
            source=f"trained: {PHASE_TITLES[opts.phase]} variant {opts.variant}",
            source_sha256=None,
            fp16_rounded=False,
            extra={
                **run_info,
                "steps": cfg.iters,
                "params_file": str(opts.params_path),
                "ema_decay": cfg.ema_decay,
                "variant_config": to_dict(plan.variant),
            },
        )
        print(f"wrote {model_path} (EMA generator after {cfg.iters} steps)", file=sys.stderr)
    distributed.barrier(info)
    return model_path


PROVENANCE = "provenance.json"


def record_session(
    out: Path,
    start_step: int,
    info: distributed.DistInfo,
    opts: RunOptions,
    amp: str | None = None,
    channels_last: bool | None = None,
) -> None:
    """Append this session (start step, device, world size, precision) to ``OUT/provenance.json``.

    Kept apart from the model, its sidecar and the checkpoints (which other stages hash): a run's
    files must not depend on the machine that made them, but where each stretch of a run was
    trained is worth knowing. An unreadable file is replaced (it holds no results).
    """
    from replication.device import describe

    path = out / PROVENANCE
    sessions: list = []
    if path.is_file():
        try:
            sessions = list(json.loads(path.read_text(encoding="utf-8")).get("sessions", []))
        except (ValueError, AttributeError, TypeError):
            sessions = []
    # amp: the resolved precision (--amp, else the phase's `precision`); opts.amp when not given
    entry = {"start_step": start_step, "world_size": info.world_size, "amp": amp or opts.amp}
    cl = opts.channels_last if channels_last is None else channels_last
    entry.update(channels_last=cl, compile=opts.compile, **describe(info.device))
    sessions.append(entry)
    write_text_atomic(path, json.dumps({"sessions": sessions}, indent=1) + "\n")


@torch.no_grad()
def write_sample(t: Trainer, log: TrainLogger, step: int) -> None:
    """LQ | EMA output | target of the current batch's first images, as one PNG in dvclive."""
    assert t.last_batch is not None  # set by every step; samples are written after a step
    lq, target = t.last_batch
    sr = t.ema.model(lq[:4].float().contiguous())
    log.image(step, sample_grid(lq[:4], sr, target[:4]))


__all__ = ["RunOptions", "TrainingDiverged", "gan_step", "net_step", "next_gt_batches", "preflight", "train"]
