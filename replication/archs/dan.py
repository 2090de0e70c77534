"""DAN v1 (Luo et al., NeurIPS 2020): a Restorer and an Estimator that alternate.

The Restorer super-resolves the LR image given a 10-dim PCA code of the blur kernel; the
Estimator predicts that code from the LR image and the current SR image. Inference starts from
the code of a delta kernel and runs ``loop`` rounds; the last round's SR image is the output.
Module and parameter names equal the official checkpoints' (``Restorer.*``, ``Estimator.*``,
buffers ``encoder`` / ``init_kernel`` / ``init_ker_map``), so they load strictly; the layer-by-layer
description and key list are in ``docs/baselines.md``.

Both halves use global average pooling (channel attention in every block, and the Estimator's
code is a mean over the whole image), so an output pixel depends on the entire input: tiling
cannot reproduce whole-image output and is refused (``whole_image_only``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from replication.archs.init import default_init_, generator_from_seed, isolated_global_rng
from replication.errors import UserError

CODE_LEN = 10  # the official Estimator's output width is fixed at 10 (all released v1 models)
EST_FEAT = 32  # Estimator width
EST_BLOCKS = 5  # Estimator CRB layers


class ChannelAttention(nn.Module):
    """Squeeze-excite: global mean -> 1×1 conv (÷16) -> LReLU -> 1×1 conv -> sigmoid, scales the input."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x.mean(dim=(2, 3), keepdim=True))


class ConditionalBlock(nn.Module):
    """The official CRB layer on a pair (main, condition): only ``main`` is updated, residually."""

    def __init__(self, main_ch: int, cond_ch: int) -> None:
        super().__init__()
        both = main_ch + cond_ch
        self.body = nn.Sequential(
            nn.Conv2d(both, both, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(both, main_ch, 3, 1, 1),
            ChannelAttention(main_ch),
        )

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        main, cond = pair
        return main + self.body(torch.cat((main, cond), 1)), cond


def upscale_layers(num_feat: int, out_ch: int, scale: int) -> nn.Sequential:
    """Conv + pixel-shuffle stages (no activations), then the output conv; indices as the official files."""
    layers: list[nn.Module] = []
    steps = [2, 2] if scale == 4 else [scale]
    for step in steps:
        layers += [nn.Conv2d(num_feat, num_feat * step * step, 3, 1, 1), nn.PixelShuffle(step)]
    layers.append(nn.Conv2d(num_feat, out_ch, 3, 1, 1))
    return nn.Sequential(*layers)


class Restorer(nn.Module):
    """(LR (N,3,H,W), code (N,10)) -> SR (N,3,sH,sW). No global skip, no output clamp."""

    def __init__(self, num_feat: int, num_block: int, scale: int) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ConditionalBlock(num_feat, CODE_LEN) for _ in range(num_block)))
        self.fusion = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upscale = upscale_layers(num_feat, 3, scale)

    def forward(self, lr: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        n, _, h, w = lr.shape
        cond = code.view(n, CODE_LEN, 1, 1).expand(n, CODE_LEN, h, w)
        feat, _ = self.body((self.head(lr), cond))
        return self.upscale(self.fusion(feat))


class Estimator(nn.Module):
    """(SR (N,3,sH,sW), LR (N,3,H,W)) -> kernel code (N,10), the spatial mean of the last conv."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.head_LR = nn.Conv2d(3, EST_FEAT, 1)
        # stride = scale with a 9×9 (x4) window brings the SR features back to exactly LR size
        k = 2 * scale + 1
        self.head_HR = nn.Conv2d(3, EST_FEAT, k, scale, k // 2)
        self.body = nn.Sequential(*(ConditionalBlock(EST_FEAT, EST_FEAT) for _ in range(EST_BLOCKS)))
        self.out = nn.Conv2d(EST_FEAT, CODE_LEN, 3, 1, 1)

    def forward(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        feat, _ = self.body((self.head_LR(lr), self.head_HR(sr)))
        return self.out(feat).mean(dim=(2, 3))


class DAN(nn.Module):
    """DANv1 generator. Input (N, 3, H, W) RGB in [0, 1], any H and W -> (N, 3, scale·H, scale·W), unclamped.

    ``encoder`` is the PCA basis (1, k², 10); it is part of the checkpoint. A freshly built DAN holds
    zeros there until :meth:`set_pca` is called (or a checkpoint is loaded); running it before is an
    error. ``seed`` fixes the initial weights (PyTorch's default init, as the official code).
    """

    arch_name = "dan"
    input_multiple = 1
    encoder: torch.Tensor  # buffers (registered in __init__), typed for the checker
    init_kernel: torch.Tensor
    init_ker_map: torch.Tensor
    whole_image_only = True  # global pooling: tiles would see different statistics (see module doc)

    def __init__(
        self,
        *,
        num_feat: int = 64,
        num_block: int = 40,
        scale: int = 4,
        loop: int = 4,
        kernel_size: int = 21,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"DAN scale must be 2, 3 or 4, got {scale}")
        if num_feat < 16 or num_block < 1 or loop < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"DAN: bad sizes num_feat={num_feat} (>= 16) num_block={num_block} loop={loop} "
                f"kernel_size={kernel_size} (odd)"
            )
        self.hyperparameters = dict(
            num_feat=num_feat, num_block=num_block, scale=scale, loop=loop, kernel_size=kernel_size
        )
        self.scale = scale
        with isolated_global_rng():
            self.Restorer = Restorer(num_feat, num_block, scale)
            self.Estimator = Estimator(scale)
        delta = torch.zeros(1, kernel_size, kernel_size)
        delta[0, kernel_size // 2, kernel_size // 2] = 1.0
        self.register_buffer("encoder", torch.zeros(1, kernel_size * kernel_size, CODE_LEN))
        self.register_buffer("init_kernel", delta)
        self.register_buffer("init_ker_map", torch.zeros(1, CODE_LEN))
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int) -> None:
        gen = generator_from_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                default_init_(module, gen)

    def set_pca(self, matrix: torch.Tensor) -> None:
        """Install a PCA basis (k², 10) and the code of the delta kernel (encoding = flat kernel @ basis)."""
        k2 = self.encoder.shape[1]
        if tuple(matrix.shape) != (k2, CODE_LEN):
            raise ValueError(f"DAN PCA matrix must be ({k2}, {CODE_LEN}), got {tuple(matrix.shape)}")
        with torch.no_grad():
            self.encoder.copy_(matrix.float().unsqueeze(0))
            self.init_ker_map.copy_(self.init_kernel.reshape(1, 1, k2).bmm(self.encoder).reshape(1, CODE_LEN))

    @property
    def receptive_radius(self) -> None:
        """None: every output pixel depends on the whole input (global pooling)."""
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.encoder.any()):
            raise RuntimeError("DAN has no PCA basis: load a checkpoint or call set_pca() first")
        code = self.init_ker_map.expand(x.shape[0], CODE_LEN)
        sr = x
        for i in range(self.hyperparameters["loop"]):
            sr = self.Restorer(x, code)
            # the official loop also runs the Estimator after the last restoration; that code is
            # never used for the image, so it is skipped here (same output, one pass less)
            if i + 1 < self.hyperparameters["loop"]:
                code = self.Estimator(sr, x)
        return sr


# --- checkpoint knowledge (used by the architecture table) ---------------------------------------


def to_official_names(state: Mapping[str, torch.Tensor], source: str = "<state dict>") -> tuple[dict, str]:
    """Undo the June-2020 attribute name ``Predictor`` (now ``Estimator``); returns (state, naming)."""
    if not any(k.startswith("Predictor.") for k in state):
        return dict(state), "official"
    if any(k.startswith("Estimator.") for k in state):
        raise UserError(f"{source}: holds both Predictor.* and Estimator.* keys; cannot tell which to use")
    renamed = {
        ("Estimator." + k.removeprefix("Predictor.") if k.startswith("Predictor.") else k): v for k, v in state.items()
    }
    return renamed, "predictor"


def infer_hyperparameters(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """DAN hyperparameters implied by an official-named state dict (``loop`` is not stored: 4, as tested)."""
    try:
        head = state["Restorer.head.weight"]
        encoder = state["encoder"]
    except KeyError as exc:
        raise UserError(f"not a DAN state dict (missing {exc.args[0]})") from None
    num_block = len({k.split(".")[2] for k in state if k.startswith("Restorer.body.")})
    k2 = int(encoder.shape[1])
    kernel_size = round(k2**0.5)
    if "Restorer.upscale.4.weight" in state:
        scale = 4
    else:
        first = state.get("Restorer.upscale.0.weight")
        ratio = int(first.shape[0]) // int(head.shape[0]) if first is not None else 0
        scale = {4: 2, 9: 3}.get(ratio, 0)
        if not scale:
            raise UserError("cannot tell the DAN scale from Restorer.upscale.*")
    return dict(num_feat=int(head.shape[0]), num_block=num_block, scale=scale, loop=4, kernel_size=kernel_size)


def load_pca_matrix(path: str | os.PathLike) -> torch.Tensor:
    """The official PCA basis file (a bare tensor saved with torch.save), read with weights_only."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: DAN PCA matrix not found")
    try:
        matrix = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file that is not a tensor pickle
        raise UserError(f"{path}: cannot read the DAN PCA matrix ({str(exc).splitlines()[0]})") from None
    if not isinstance(matrix, torch.Tensor) or matrix.ndim != 2:
        raise UserError(f"{path}: expected one 2-D tensor (k², 10)")
    return matrix.float()


PCA_MIRROR_PATH = "weights/dan/pca_matrix.pth"  # the official repository's x4 PCA basis, mirrored


def compare_pca_with_mirror(state: dict[str, torch.Tensor], mirror: Path | None) -> dict[str, object]:
    """Whether a checkpoint's ``encoder`` equals the official PCA basis (None: no mirror copy to compare).

    The released x4 models were trained with that basis; a different one means another model family
    (e.g. DANv2's anisotropic basis) or a damaged file.
    """
    path = mirror / PCA_MIRROR_PATH if mirror is not None else None
    encoder = state.get("encoder")
    if path is None or not path.is_file() or encoder is None:
        return {"pca_matches_mirror": None}
    reference = load_pca_matrix(path)
    same = tuple(encoder.shape) == (1, *reference.shape) and bool(torch.equal(encoder[0].float(), reference))
    return {"pca_matches_mirror": same}
