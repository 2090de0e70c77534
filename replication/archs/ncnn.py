"""Import the official ncnn releases (``.param`` graph + ``.bin`` weights) into our architectures.

Layout (see the project's weights notes): the ``.bin`` has no header; it concatenates, in
``.param`` layer order, the data of every weight-owning layer. A Convolution stores a 4-byte tag
(fp16 ``0x01306B47`` or fp32 ``0``), its OIHW weights (fp16 padded to 4 bytes), then ``num_output``
raw fp32 biases; a PReLU stores ``num_slope`` raw fp32 slopes. Every conv is checked against the
architecture (shape, kernel, padding, fused activation) and the ``.bin`` must be consumed exactly;
any mismatch is an error naming the file and the line or byte offset.

The official files hold fp16 conv weights, so imported models are the official weights rounded
to fp16 (biases and PReLU slopes are exact): sidecars record ``fp16_rounded: true``. Compared with
an fp32 copy of realesr-animevideov3, the converter truncated toward zero (error < one fp16 step)
and flushed fp16 subnormals (|w| < 2^-14) to zero.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from replication.archs.rrdbnet import UNSHUFFLE_FACTOR, rrdbnet_conv_names
from replication.errors import UserError

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x00000000
TAG_INT8 = 0x000D4B38
# Layer types that own no data in the .bin (everything the supported graphs contain).
WEIGHTLESS = {
    "Input",
    "Split",
    "Concat",
    "Eltwise",
    "BinaryOp",
    "Interp",
    "PixelShuffle",
    "ReLU",
    "Sigmoid",
    "Clip",
    "Crop",
    "Padding",
    "Reshape",
    "Permute",
    "Noop",
    "Dropout",
    "Flatten",
}
ACT_NONE, ACT_RELU, ACT_LEAKY = 0, 1, 2


@dataclass(frozen=True)
class NcnnLayer:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, Any]  # ints, floats, or lists of them
    line: int

    def get(self, key: int, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass
class NcnnConv:
    """A Convolution's data: weight (O, I, kH, kW) float32 and bias (O,) or None."""

    layer: NcnnLayer
    weight: np.ndarray
    bias: np.ndarray | None
    fp16: bool
    offset: int  # where the layer's data starts in the .bin


@dataclass
class NcnnPReLU:
    layer: NcnnLayer
    slope: np.ndarray
    offset: int


@dataclass
class NcnnModel:
    param_path: Path
    bin_path: Path
    layers: list[NcnnLayer]
    owners: list[NcnnConv | NcnnPReLU] = field(default_factory=list)

    @property
    def convs(self) -> list[NcnnConv]:
        return [o for o in self.owners if isinstance(o, NcnnConv)]

    @property
    def fp16_rounded(self) -> bool:
        return any(c.fp16 for c in self.convs)


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_param(path: str | os.PathLike) -> list[NcnnLayer]:
    """Parse a text ``.param`` file into layers (params keyed by id; arrays as lists)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: ncnn .param file not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text ncnn .param file (binary .param.bin is not supported)") from None
    numbered = [(i + 1, ln.strip()) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered or numbered[0][1] != str(MAGIC):
        raise UserError(f"{path}: line 1 must be the ncnn magic {MAGIC}")
    try:
        layer_count, _blob_count = (int(t) for t in numbered[1][1].split())
    except (IndexError, ValueError):
        raise UserError(f"{path}: line 2 must be 'layer_count blob_count'") from None
    layers = []
    for lineno, text in numbered[2:]:
        tok = text.split()
        try:
            typ, name, n_in, n_out = tok[0], tok[1], int(tok[2]), int(tok[3])
            ins = tuple(tok[4 : 4 + n_in])
            outs = tuple(tok[4 + n_in : 4 + n_in + n_out])
            params: dict[int, Any] = {}
            for kv in tok[4 + n_in + n_out :]:
                key_text, value_text = kv.split("=", 1)
                key = int(key_text)
                if key <= -23300:  # array: "count,v1,v2,..."
                    values = [_number(v) for v in value_text.split(",")]
                    count = int(values[0])
                    if len(values) - 1 != count:
                        raise ValueError(f"array {kv} announces {count} values")
                    params[-key - 23300] = values[1:]
                else:
                    params[key] = _number(value_text)
        except (IndexError, ValueError) as exc:
            raise UserError(f"{path}:{lineno}: cannot parse layer line ({exc})") from None
        if len(ins) != n_in or len(outs) != n_out:
            raise UserError(f"{path}:{lineno}: layer {name} lists fewer blobs than announced")
        layers.append(NcnnLayer(typ, name, ins, outs, params, lineno))
    if len(layers) != layer_count:
        raise UserError(f"{path}: header announces {layer_count} layers, file has {len(layers)}")
    return layers


class _BinReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = path.read_bytes()
        self.offset = 0

    def take(self, nbytes: int, what: str) -> bytes:
        if self.offset + nbytes > len(self.data):
            raise UserError(
                f"{self.path}: ends at byte {len(self.data)} but {what} needs {nbytes} bytes from offset "
                f"{self.offset} (wrong .bin for this .param?)"
            )
        chunk = self.data[self.offset : self.offset + nbytes]
        self.offset += nbytes
        return chunk


def read_ncnn(param_path: str | os.PathLike, bin_path: str | os.PathLike) -> NcnnModel:
    """Parse the graph and read every weight-owning layer's data; the .bin must be used exactly."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    layers = parse_param(param_path)
    if not bin_path.is_file():
        raise UserError(f"{bin_path}: ncnn .bin file not found")
    reader = _BinReader(bin_path)
    model = NcnnModel(param_path, bin_path, layers)
    for layer in layers:
        where = f"layer {layer.name} ({param_path.name}:{layer.line})"
        if layer.type == "Convolution":
            start = reader.offset
            if int(layer.get(8, 0)):
                raise UserError(f"{param_path}:{layer.line}: int8-quantised convolution {layer.name} is not supported")
            size = int(layer.get(6, 0))
            out_ch = int(layer.get(0, 0))
            kw = int(layer.get(1, 0))
            kh = int(layer.get(11, kw))
            if size <= 0 or out_ch <= 0 or size % (out_ch * kh * kw):
                raise UserError(
                    f"{param_path}:{layer.line}: {layer.name}: weight_data_size {size} does not "
                    f"fit num_output {out_ch} and kernel {kh}×{kw}"
                )
            tag = int.from_bytes(reader.take(4, f"the weight tag of {where}"), "little")
            if tag == TAG_FP16:
                raw = reader.take(size * 2, f"the fp16 weights of {where}")
                reader.take((-size * 2) % 4, f"the alignment padding of {where}")
                weight = np.frombuffer(raw, dtype="<f2").astype(np.float32)
            elif tag == TAG_FP32:
                weight = np.frombuffer(reader.take(size * 4, f"the fp32 weights of {where}"), dtype="<f4").copy()
            elif tag == TAG_INT8:
                raise UserError(
                    f"{bin_path}: offset {start}: {where} has int8 weights (tag 0x{tag:08X}); "
                    f"only fp16/fp32 are supported"
                )
            else:
                # Real-ESRGAN's ncnn releases are all fp16. An unknown tag almost always means the
                # reader is out of step: the .bin belongs to another .param (or is damaged).
                raise UserError(
                    f"{bin_path}: offset {start}: {where}: no fp16/fp32 weight tag here (found 0x{tag:08X}); "
                    f"this .bin does not match {param_path.name} (a .bin of another model, or a damaged file). "
                    f"Use the .param/.bin pair of one release"
                )
            bias = None
            if int(layer.get(5, 0)):
                bias = np.frombuffer(reader.take(out_ch * 4, f"the bias of {where}"), dtype="<f4").copy()
            in_ch = size // (out_ch * kh * kw)
            model.owners.append(NcnnConv(layer, weight.reshape(out_ch, in_ch, kh, kw), bias, tag == TAG_FP16, start))
        elif layer.type == "PReLU":
            start = reader.offset
            n = int(layer.get(0, 0))
            slope = np.frombuffer(reader.take(n * 4, f"the slopes of {where}"), dtype="<f4").copy()
            model.owners.append(NcnnPReLU(layer, slope, start))
        elif layer.type not in WEIGHTLESS:
            raise UserError(f"{param_path}:{layer.line}: unsupported layer type {layer.type} ({layer.name})")
    if reader.offset != len(reader.data):
        raise UserError(
            f"{bin_path}: {len(reader.data) - reader.offset} bytes left over at offset {reader.offset} "
            f"after the last layer of {param_path.name} (wrong .param for this .bin?)"
        )
    return model


def _check_conv(
    conv: NcnnConv, key: str, expected_shape: tuple[int, ...], act: tuple[int, float | None], path: Path
) -> None:
    layer = conv.layer
    where = f"{path}:{layer.line}: {layer.name} (-> {key})"
    if tuple(conv.weight.shape) != tuple(expected_shape):
        raise UserError(f"{where}: weight shape {tuple(conv.weight.shape)}, expected {tuple(expected_shape)}")
    geometry = dict(
        stride=(int(layer.get(3, 1)), int(layer.get(13, layer.get(3, 1)))),
        dilation=(int(layer.get(2, 1)), int(layer.get(12, layer.get(2, 1)))),
        pad=(int(layer.get(4, 0)), int(layer.get(14, layer.get(4, 0)))),
    )
    if geometry != dict(stride=(1, 1), dilation=(1, 1), pad=(1, 1)) or conv.bias is None:
        raise UserError(
            f"{where}: expected a 3×3 stride-1 pad-1 conv with bias, got {geometry}, bias={conv.bias is not None}"
        )
    act_type = int(layer.get(9, ACT_NONE))
    act_params = layer.get(10, [])
    want_type, want_slope = act
    if act_type != want_type or (
        want_slope is not None
        and not (isinstance(act_params, list) and len(act_params) == 1 and math.isclose(act_params[0], want_slope))
    ):
        raise UserError(f"{where}: fused activation {act_type} {act_params}, expected {want_type} slope {want_slope}")


def _check_given(given: dict[str, object], inferred: dict[str, object], path: Path) -> None:
    for key, value in given.items():
        if value is not None and inferred.get(key) != value:
            raise UserError(f"{path}: the graph implies {key}={inferred.get(key)}, but {key}={value} was given")


def _check_rrdb_graph(model: NcnnModel, num_block: int) -> None:
    """The non-conv layers of an RRDBNet graph: 0.2-scaled residual sums and two nearest ×2 upsamplings."""
    path = model.param_path
    interps = [l for l in model.layers if l.type == "Interp"]
    if len(interps) != 2 or any(
        int(l.get(0, 0)) != 1 or float(l.get(1, 0)) != 2.0 or float(l.get(2, 0)) != 2.0 for l in interps
    ):
        raise UserError(
            f"{path}: expected two nearest ×2 Interp layers (RRDBNet upsampling), found "
            f"{[(l.line, l.params) for l in interps]}"
        )
    eltwise = [l for l in model.layers if l.type == "Eltwise"]
    bad = [l for l in eltwise if int(l.get(0, -1)) != 1 or l.get(1) != [0.2, 1.0]]
    if len(eltwise) != 4 * num_block or bad:
        where = f" (line {bad[0].line})" if bad else ""
        raise UserError(
            f"{path}: expected {4 * num_block} residual sums 0.2·a + b, found {len(eltwise)} "
            f"with {len(bad)} different{where}"
        )


def rrdbnet_from_ncnn(model: NcnnModel, given: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Map an RRDBNet ncnn graph to a BasicSR-named state dict; returns (state, hyperparameters)."""
    path = model.param_path
    convs = model.convs
    if len(convs) != len(model.owners) or len(convs) < 21 or (len(convs) - 6) % 15:
        raise UserError(
            f"{path}: {len(convs)} convolutions and {len(model.owners) - len(convs)} other weight "
            f"layers do not form an RRDBNet (6 + 15·num_block convolutions)"
        )
    num_block = (len(convs) - 6) // 15
    num_feat = convs[0].weight.shape[0]
    num_grow_ch = convs[1].weight.shape[0]
    num_out_ch = convs[-1].weight.shape[0]
    in_folded = convs[0].weight.shape[1]
    scale = next((s for s, f in UNSHUFFLE_FACTOR.items() if in_folded == num_out_ch * f * f), None)
    if scale is None:
        raise UserError(f"{path}: first conv has {in_folded} input channels: not an RRDBNet for {num_out_ch} channels")
    hyper = dict(
        num_in_ch=num_out_ch,
        num_out_ch=num_out_ch,
        scale=scale,
        num_feat=int(num_feat),
        num_block=num_block,
        num_grow_ch=int(num_grow_ch),
    )
    _check_given(given, hyper, path)
    _check_rrdb_graph(model, num_block)
    names = rrdbnet_conv_names(num_block)
    leaky: tuple[int, float | None] = (ACT_LEAKY, 0.2)
    state = {}
    act: tuple[int, float | None]
    for conv, key in zip(convs, names, strict=True):
        if key == "conv_first":
            shape, act = (num_feat, in_folded, 3, 3), (ACT_NONE, None)
        elif key.startswith("body."):
            c = int(key[-1])
            cin = num_feat + (c - 1) * num_grow_ch
            shape = (num_grow_ch if c < 5 else num_feat, cin, 3, 3)
            act = leaky if c < 5 else (ACT_NONE, None)
        elif key in ("conv_up1", "conv_up2", "conv_hr"):
            shape, act = (num_feat, num_feat, 3, 3), leaky
        elif key == "conv_body":
            shape, act = (num_feat, num_feat, 3, 3), (ACT_NONE, None)
        else:  # conv_last
            shape, act = (num_out_ch, num_feat, 3, 3), (ACT_NONE, None)
        _check_conv(conv, key, shape, act, path)
        state[f"{key}.weight"] = torch.from_numpy(np.ascontiguousarray(conv.weight))
        state[f"{key}.bias"] = torch.from_numpy(conv.bias)
    return state, hyper


def srvgg_from_ncnn(model: NcnnModel, given: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Map an SRVGGNetCompact ncnn graph to ``body.{i}`` keys; returns (state, hyperparameters)."""
    path = model.param_path
    owners = model.owners
    convs = model.convs
    prelus = [o for o in owners if isinstance(o, NcnnPReLU)]
    if len(convs) < 2:
        raise UserError(f"{path}: {len(convs)} convolutions do not form an SRVGGNetCompact")
    num_conv = len(convs) - 2
    num_feat = int(convs[0].weight.shape[0])
    num_in_ch = int(convs[0].weight.shape[1])
    last_out = int(convs[-1].weight.shape[0])
    shuffles = [int(l.get(0, 0)) for l in model.layers if l.type == "PixelShuffle"]
    if len(shuffles) != 1:
        raise UserError(f"{path}: expected one PixelShuffle layer, found {len(shuffles)}")
    scale = shuffles[0]
    interps = [l for l in model.layers if l.type == "Interp"]
    if len(interps) != 1 or int(interps[0].get(0, 0)) != 1 or float(interps[0].get(1, 0)) != scale:
        raise UserError(
            f"{path}: expected one nearest ×{scale} Interp of the input (the residual base); "
            f"x2/x3 variants that add a bicubic resize are not SRVGGNetCompact graphs"
        )
    if last_out % (scale * scale):
        raise UserError(f"{path}: last conv has {last_out} outputs, not a multiple of scale² = {scale * scale}")
    num_out_ch = last_out // (scale * scale)
    fused: tuple[int, float | None]
    if prelus:
        act_type, fused = "prelu", (ACT_NONE, None)
        expected = []
        for _ in range(num_conv + 1):
            expected += [NcnnConv, NcnnPReLU]
        expected.append(NcnnConv)
        if [type(o) for o in owners] != expected:
            raise UserError(f"{path}: weight layers are not conv/PReLU pairs ending in a conv")
    else:
        fused_types = {int(c.layer.get(9, 0)) for c in convs[:-1]}
        if fused_types == {ACT_RELU}:
            act_type, fused = "relu", (ACT_RELU, None)
        elif fused_types == {ACT_LEAKY}:
            act_type, fused = "lrelu", (ACT_LEAKY, 0.1)
        else:
            raise UserError(f"{path}: cannot tell the SRVGGNetCompact activation (fused types {sorted(fused_types)})")
    hyper = dict(
        num_in_ch=num_in_ch, num_out_ch=num_out_ch, num_feat=num_feat, num_conv=num_conv, scale=scale, act_type=act_type
    )
    _check_given(given, hyper, path)
    state = {}
    index = 0
    for i, conv in enumerate(convs):
        cin = num_in_ch if i == 0 else num_feat
        cout = last_out if i == len(convs) - 1 else num_feat
        act = (ACT_NONE, None) if i == len(convs) - 1 else fused
        _check_conv(conv, f"body.{index}", (cout, cin, 3, 3), act, path)
        state[f"body.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(conv.weight))
        state[f"body.{index}.bias"] = torch.from_numpy(conv.bias)
        if i < len(convs) - 1 and act_type == "prelu":
            slope = prelus[i].slope
            if slope.shape != (num_feat,):
                raise UserError(
                    f"{path}:{prelus[i].layer.line}: PReLU with {slope.shape[0]} slopes, expected {num_feat}"
                )
            state[f"body.{index + 1}.weight"] = torch.from_numpy(slope)
        index += 2
    return state, hyper
