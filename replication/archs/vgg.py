"""VGG19 feature extractor for the perceptual loss.

Built from torchvision's ``vgg19`` definition (``weights=None``: nothing is downloaded). With
``pretrained=True`` the ImageNet weights are loaded from a local file (torchvision's
``vgg19-dcbb9e9d.pth``, fetched with ``replication weights fetch vgg19_imagenet``); with
``pretrained=False`` the extractor is explicitly untrained, initialised deterministically from
``seed`` (torchvision's scheme: kaiming-normal fan_out, zero bias) — useful for smoke runs, never
for results. Features of a requested ``convX_Y`` layer are taken BEFORE its ReLU.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import torch
from torch import nn

from replication.archs.checkpoint import load_state_dict_file
from replication.archs.init import generator_from_seed, isolated_global_rng
from replication.errors import UserError

# torchvision's VGG19 "E" configuration: convs per stage
_STAGES = (2, 2, 4, 4, 4)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_names() -> list[str]:
    """Names of torchvision's ``vgg19().features`` layers in order: conv1_1, relu1_1, ..., pool5."""
    names = []
    for stage, convs in enumerate(_STAGES, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{stage}_{i}", f"relu{stage}_{i}"]
        names.append(f"pool{stage}")
    return names


def _vgg19_features() -> nn.Sequential:
    """torchvision's VGG19 ``features`` (no weights). Built without the 120M-parameter classifier
    when torchvision exposes its layer builder, which is much faster than ``vgg19(weights=None)``."""
    try:
        from torchvision.models.vgg import cfgs, make_layers
    except ImportError:  # pragma: no cover - older/newer torchvision layouts
        import torchvision

        return torchvision.models.vgg19(weights=None).features
    return make_layers(cfgs["E"], batch_norm=False)


class VGGFeatureExtractor(nn.Module):
    """Input (N, 3, H, W) RGB in [0, 1] (or [-1, 1] with ``range_norm``) -> {layer: (N, C, h, w)}."""

    def __init__(
        self,
        layer_names: Sequence[str],
        *,
        pretrained: bool,
        weights_path: str | os.PathLike | None = None,
        use_input_norm: bool = True,
        range_norm: bool = False,
        requires_grad: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        all_names = vgg19_layer_names()
        unknown = [n for n in layer_names if n not in all_names]
        if unknown or not layer_names:
            raise ValueError(f"unknown VGG19 layer(s) {unknown or '(none given)'}; known: {', '.join(all_names)}")
        if pretrained and weights_path is None:
            raise UserError(
                "VGG19 ImageNet weights needed but no file given: run "
                "`replication weights fetch vgg19_imagenet --out models/official/vgg19-dcbb9e9d.pth` "
                "or use an explicitly untrained extractor (vgg_weights: untrained)"
            )
        if not pretrained and weights_path is not None:
            raise ValueError("weights_path given with pretrained=False; pick one")
        self.layer_names = list(layer_names)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.pretrained = pretrained
        last = max(all_names.index(n) for n in layer_names)
        with isolated_global_rng():
            features = _vgg19_features()[: last + 1]
        layers = OrderedDict()
        for name, layer in zip(all_names, features, strict=False):
            # torchvision's ReLUs are in-place and would overwrite the pre-activation features we return
            layers[name] = nn.ReLU() if isinstance(layer, nn.ReLU) else layer
        self.vgg_net = nn.Sequential(layers)
        self._torchvision_index = {name: i for i, name in enumerate(all_names[: last + 1])}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            if weights_path is None:
                raise ValueError("pretrained VGG19 features need weights_path")
            self.load_imagenet_weights(weights_path)
        else:
            self.reset_parameters(seed)
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        self.eval()

    def reset_parameters(self, seed: int) -> None:
        gen = generator_from_seed(seed)
        with torch.no_grad():
            for module in self.vgg_net:
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=gen)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)

    def load_imagenet_weights(self, path: str | os.PathLike) -> None:
        """Load torchvision's VGG19 state dict (keys ``features.{i}.weight``; ``classifier.*`` ignored)."""
        path = Path(path)
        state = load_state_dict_file(path)
        wanted = {}
        for name, idx in self._torchvision_index.items():
            if not name.startswith("conv"):
                continue
            for kind in ("weight", "bias"):
                key = f"features.{idx}.{kind}"
                if key not in state:
                    raise UserError(f"{path}: not a torchvision VGG19 state dict (missing {key})")
                wanted[f"{name}.{kind}"] = state[key]
        try:
            self.vgg_net.load_state_dict(wanted, strict=True)
        except RuntimeError as exc:
            raise UserError(f"{path}: VGG19 weights do not fit: {exc}") from None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - cast(torch.Tensor, self.mean)) / cast(torch.Tensor, self.std)
        out = {}
        for name, layer in self.vgg_net.named_children():
            x = layer(x)
            if name in self.layer_names:
                out[name] = x
        return out
