"""The in-pipeline expression classifier behind ECS: a ResNet-18 trained on real training images.

This is the protocol StarGAN used on RaFD: a classifier trained on the real
images of the training split, then applied to generated ones. It is a
torchvision ResNet-18 with random initial weights (nothing is downloaded),
7 outputs in :data:`~bench.core.vocabulary.EXPRESSIONS` order, input RGB in
[-1, 1] at the dataset's image size. Training is seeded, with light
augmentation (flip, small shift and scale, brightness / colour jitter) because
a smoke-profile training split has only a few hundred images.

The checkpoint (``checkpoints/ecs_classifier/<train_dataset>/resnet18.pt``,
its own DVC stage) holds the weights, the image size, the settings, the sha256
of the training manifest and the accuracy on the dataset's real test split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.core import atomic
from bench.core.errors import MissingWeightsError, UserError, one_line
from bench.core.hashing import sha256_file
from bench.core.tensors import ImageSet, to_model_range
from bench.core.vocabulary import EXPRESSIONS
from datasets.manifest import MANIFEST
from datasets.tensors import load_image_set

CHECKPOINT_DIR = "ecs_classifier"
CHECKPOINT_NAME = "resnet18.pt"
ARCHITECTURE = "torchvision resnet18, random init, 7 classes"


@dataclass(frozen=True)
class ClassifierSettings:
    """Training hyper-parameters (``ecs_classifier:`` in params.yaml, whose schema,
    :class:`bench.config.schema.ClassifierTraining`, holds their defaults and ranges).

    ``epochs`` passes over the training split with AdamW and a one-cycle
    learning-rate schedule peaking at ``learning_rate``; ``label_smoothing`` in
    [0, 1); ``augment`` switches the augmentation on.
    """

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    label_smoothing: float
    augment: bool


def build_resnet18() -> nn.Module:
    """A torchvision ResNet-18 with random weights and one output per expression."""
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=len(EXPRESSIONS))


def to_device(values: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host tensor -> ``device`` without waiting (from pinned memory) when that is a GPU."""
    if device.type != "cuda":
        return values.to(device)
    return values.pin_memory().to(device, non_blocking=True)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flip, +-10% scale, +-6% shift, brightness and colour jitter; images in [-1, 1].

    The random parameters come from the CPU ``generator`` (same draws on every device);
    the warp and jitter run on ``images``' device.
    """
    count = images.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2.0 - 1.0

    scale = 1.0 + 0.1 * uniform(count)
    flip = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, :, 2] = 0.12 * uniform(count, 2)
    grid = F.affine_grid(to_device(theta, images.device), list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    gain = to_device(1.0 + 0.2 * uniform(count, 1, 1, 1), images.device)
    shift = to_device(0.15 * uniform(count, 3, 1, 1), images.device)
    return (moved * gain + shift).clamp(-1.0, 1.0)


def predict(
    model: nn.Module, images: torch.Tensor, image_size: int, batch_size: int = 64
) -> torch.Tensor:
    """Class indices (B,) int64 for images in [-1, 1], resized bilinearly to ``image_size`` if needed."""
    device = next(model.parameters()).device
    labels = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device, torch.float32)
        if batch.shape[-1] != image_size or batch.shape[-2] != image_size:
            shrink = min(batch.shape[-2:]) > image_size
            batch = F.interpolate(
                batch,
                size=(image_size, image_size),
                mode="bilinear",
                align_corners=False,
                antialias=shrink,
            )
        with torch.inference_mode():
            labels.append(model(batch).argmax(dim=1).cpu())
    return torch.cat(labels) if labels else torch.zeros(0, dtype=torch.int64)


def correct(model: nn.Module, image_set: ImageSet, image_size: int) -> np.ndarray:
    """Per-image 1.0 / 0.0: whether the classifier gets each real image's expression right."""
    model.eval()
    with torch.inference_mode():
        predicted = predict(model, to_model_range(image_set.images), image_size)
    return (predicted == image_set.expressions).double().numpy()


@dataclass(frozen=True)
class TrainResult:
    """What training produced: the checkpoint, its test accuracy (0..1) and the time taken (s)."""

    path: Path
    test_accuracy: float
    test_images: int
    seconds: float


def train_classifier(
    root: Path,
    settings: ClassifierSettings,
    seed: int,
    device: torch.device,
    out: Path,
    progress: Callable[..., None] | None = None,
) -> TrainResult:
    """Train the ResNet-18 on the training split of the prepared dataset at ``root``.

    Seeded by ``seed``; writes the checkpoint to ``out``; ``progress(n=1, **fields)``
    is called once per epoch. Returns the path and the accuracy on the dataset's
    real test split.
    """
    root = Path(root)
    dataset = root.name
    train = load_image_set(root, "train")
    test = load_image_set(root, "test")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_resnet18().to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    steps_per_epoch = -(-len(train) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.learning_rate, total_steps=settings.epochs * steps_per_epoch
    )
    images = to_model_range(train.images.to(device))  # the split and its labels stay on the device
    labels = train.expressions.to(device)
    started = time.perf_counter()
    for _ in range(settings.epochs):
        model.train()
        order = to_device(torch.randperm(len(train), generator=generator), device)
        total = torch.zeros((), device=device)  # read once per epoch: no host sync per step
        for start in range(0, len(train), settings.batch_size):
            index = order[start : start + settings.batch_size]
            batch = images[index]
            if settings.augment:
                batch = augment(batch, generator)
            logits = model(batch)
            loss = F.cross_entropy(logits, labels[index], label_smoothing=settings.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach() * len(index)
        if progress is not None:
            progress(1, loss=float(total) / len(train))
    seconds = time.perf_counter() - started
    hits = correct(model, test, train.image_size)
    path = Path(out)
    checkpoint = {
        "architecture": ARCHITECTURE,
        "classes": list(EXPRESSIONS),
        "image_size": train.image_size,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_dataset": dataset,
        "train_manifest_sha256": sha256_file(root / MANIFEST),
        "train_images": len(train),
        "settings": asdict(settings),
        "seed": seed,
        "test_accuracy": float(hits.mean()) if hits.size else float("nan"),
        "test_images": int(hits.size),
    }
    atomic.torch_save(checkpoint, path)
    return TrainResult(path, checkpoint["test_accuracy"], checkpoint["test_images"], seconds)


def read_classifier_metadata(path: Path) -> dict[str, Any]:
    """A classifier checkpoint's fields without its weights (one-line error for a bad file)."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or foreign files raise many types
        raise UserError(
            f"ECS classifier checkpoint {path} is unreadable ({type(error).__name__}); "
            "delete it and run `bench classifier train`"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{path} is not an ECS classifier checkpoint; delete it and retrain")
    checkpoint.pop("state_dict")
    return checkpoint


def load_classifier(path: Path, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The trained classifier (eval mode, on ``device``) and its checkpoint's metadata.

    Raises :class:`MissingWeightsError` (with the command that makes it) when absent,
    and a one-line :class:`UserError` when the file is not a readable classifier
    checkpoint (truncated, foreign, or weights of another network).
    """
    path = Path(path)
    retrain = "retrain it with `bench classifier train` (the DVC stage `ecs_classifier`)"
    if not path.is_file():
        raise MissingWeightsError(
            f"ECS classifier checkpoint {path} not found: train it with `bench classifier train` "
            "(the DVC stage `ecs_classifier`)."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated / foreign files
        raise UserError(
            f"ECS classifier checkpoint {path} is unreadable ({type(error).__name__}: "
            f"{one_line(error)}); {retrain}"
        ) from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "image_size"} <= checkpoint.keys():
        raise UserError(f"{path} is not an ECS classifier checkpoint; {retrain}")
    if list(checkpoint.get("classes", [])) != list(EXPRESSIONS):
        raise UserError(
            f"{path}: classifier classes {checkpoint.get('classes')} differ from {EXPRESSIONS}"
        )
    model = build_resnet18()
    try:
        model.load_state_dict(checkpoint.pop("state_dict"))
    except (RuntimeError, TypeError, AttributeError) as error:
        raise UserError(
            f"ECS classifier checkpoint {path} does not fit {ARCHITECTURE} "
            f"({one_line(error)}); {retrain}"
        ) from None
    return model.to(device).eval(), checkpoint
