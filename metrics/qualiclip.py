"""QualiCLIP (Agnolucci et al., miccunifi/QualiCLIP): no-reference perceptual quality in [0, 1].

The official protocol: the image goes in at its own size (no resize, no crop),
as ``ToTensor`` + CLIP mean/std normalisation, through the CLIP RN50 image
encoder fine-tuned by QualiCLIP, whose attention pool does NOT add the
positional embedding (``pos_embedding=False`` in the official model code; that
is what lets any resolution through). The L2-normalised image feature is
compared with 7 antonym prompt pairs ("Good photo." / "Bad photo.", ...):
score = mean over pairs of softmax(100 * cos) taken on the positive prompt.
On CUDA the forward pass runs under float16 autocast, as the official code does.

The checkpoint ``qualiclip.pth`` (asset ``qualiclip``; CC BY-NC 4.0, URL only)
holds the whole CLIP model under ``clip_model.*`` with OpenAI's key names and
the normalised prompt features ``prompts_features`` (14 x 1024: positive,
negative, positive, ...), so the text encoder is not needed. The trunk is
open_clip's ``ModifiedResNet`` (same names); the pool here is this module's own.
Images need a side of at least 32 px (the trunk downsamples 32 times).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.core.errors import UserError, one_line
from metrics.base import Column, Metric, ScoringBatch

ASSET = "qualiclip"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
LOGIT_SCALE = 100.0
PROMPT_PAIRS = 7
MIN_SIDE = 32
RN50 = {"layers": (3, 4, 6, 3), "output_dim": 1024, "heads": 32, "image_size": 224, "width": 64}
"""CLIP RN50's image tower (heads = width * 32 / 64)."""


def attention_pool_without_position(pool: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """CLIP's attention pool over a (B, C, H, W) map, skipping the positional embedding.

    The query is the mean token; keys and values are the mean token and every
    spatial position. Uses the pool's q/k/v/c projections; returns (B, output_dim).
    """
    tokens = features.flatten(2).permute(2, 0, 1)  # (HW, B, C)
    tokens = torch.cat([tokens.mean(dim=0, keepdim=True), tokens], dim=0)
    pooled, _ = F.multi_head_attention_forward(
        query=tokens[:1],
        key=tokens,
        value=tokens,
        embed_dim_to_check=tokens.shape[-1],
        num_heads=pool.num_heads,
        q_proj_weight=pool.q_proj.weight,
        k_proj_weight=pool.k_proj.weight,
        v_proj_weight=pool.v_proj.weight,
        in_proj_weight=None,
        in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        bias_k=None,
        bias_v=None,
        add_zero_attn=False,
        dropout_p=0.0,
        out_proj_weight=pool.c_proj.weight,
        out_proj_bias=pool.c_proj.bias,
        use_separate_proj_weight=True,
        training=False,
        need_weights=False,
    )
    return pooled[0]


class QualiCLIPModel(nn.Module):
    """CLIP RN50 image encoder + the 7 stored prompt pairs -> quality score per image.

    :meth:`forward` takes CLIP-normalised images (B, 3, H, W), H and W >= 32,
    and returns (B,) scores in [0, 1].
    """

    def __init__(self, prompt_features: torch.Tensor) -> None:
        super().__init__()
        from open_clip.modified_resnet import ModifiedResNet

        if prompt_features.shape[0] != 2 * PROMPT_PAIRS:
            raise ValueError(
                f"expected {2 * PROMPT_PAIRS} prompt features, got {tuple(prompt_features.shape)}"
            )
        self.visual = ModifiedResNet(**RN50)
        self.register_buffer("prompts", F.normalize(prompt_features.float(), dim=-1))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features (B, 1024)."""
        visual = self.visual
        x = visual.stem(images.type(visual.conv1.weight.dtype))
        x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))
        return F.normalize(attention_pool_without_position(visual.attnpool, x), dim=-1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if min(images.shape[-2:]) < MIN_SIDE:
            raise ValueError(
                f"QualiCLIP needs images of at least {MIN_SIDE} px, got {tuple(images.shape[-2:])}"
            )
        logits = LOGIT_SCALE * self.encode(images) @ self.prompts.to(images.dtype).T
        pairs = logits.float().reshape(images.shape[0], PROMPT_PAIRS, 2).softmax(dim=-1)
        return pairs[..., 0].mean(dim=1)


def load_qualiclip(path: str | Path) -> QualiCLIPModel:
    """Build :class:`QualiCLIPModel` from an official ``qualiclip.pth`` (eval mode).

    Every parameter and running statistic of the image tower must be in the
    file (``num_batches_tracked`` counters excepted). A file that is not that
    checkpoint (truncated, foreign, other shapes) is a one-line :class:`UserError`.
    """
    replace = "replace it: `bench weights pull qualiclip --force`"
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated / foreign files
        raise UserError(
            f"{path} is unreadable ({type(error).__name__}: {one_line(error)}); {replace}"
        ) from None
    if not isinstance(state, dict) or "prompts_features" not in state:
        raise UserError(f"{path}: no `prompts_features`: not a QualiCLIP checkpoint; {replace}")
    prompts = torch.as_tensor(state["prompts_features"])
    if prompts.shape != (2 * PROMPT_PAIRS, RN50["output_dim"]):
        raise UserError(
            f"{path}: prompts_features is {tuple(prompts.shape)}, QualiCLIP's is "
            f"{(2 * PROMPT_PAIRS, RN50['output_dim'])}; {replace}"
        )
    model = QualiCLIPModel(prompts)
    prefix = "clip_model.visual."
    visual = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        result = model.visual.load_state_dict(visual, strict=False)
    except RuntimeError as error:  # a tensor of another shape
        raise UserError(
            f"{path}: image tower does not fit CLIP RN50 ({one_line(error)}); {replace}"
        ) from None
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise UserError(
            f"{path}: image tower keys do not match CLIP RN50 "
            f"(missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}); {replace}"
        )
    return model.eval()


class QualiCLIP(Metric):
    """Per-image QualiCLIP quality in [0, 1] of the output (higher is better; no reference).

    Args:
        batch_size: images per forward pass (scores do not depend on it).

    Raises :class:`~bench.core.errors.MissingWeightsError` when ``qualiclip.pth`` is
    not in the weights cache (it is URL-only: ``bench weights pull qualiclip``).
    """

    name: ClassVar[str] = "qualiclip"
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "QualiCLIP",
            True,
            (0.0, 1.0),
            "no-reference perceptual quality (QualiCLIP, official protocol)",
        ),
    )

    @classmethod
    def weights(cls, **settings: Any) -> tuple[str, ...]:
        return (ASSET,)

    def __init__(self, batch_size: int = 32) -> None:
        from bench.core.weights import checksums, require

        self.batch_size = int(batch_size)
        self.model = load_qualiclip(require(ASSET))
        self._checksums = checksums([ASSET])
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> QualiCLIP:
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    def quality(self, images: torch.Tensor) -> np.ndarray:
        """(B,) float64 scores for RGB images (B, 3, H, W) in [-1, 1], any H, W >= 32."""
        mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)
        scores = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = (images[start : start + self.batch_size].to(self.device).float() + 1.0) / 2.0
            with (
                torch.inference_mode(),
                torch.autocast("cuda", dtype=torch.float16, enabled=self.device.type == "cuda"),
            ):
                scores.append(self.model((batch - mean) / std).double().cpu())
        return torch.cat(scores).numpy() if scores else np.zeros(0)

    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        return {"QualiCLIP": self.quality(batch.outputs)}

    def weight_checksums(self) -> dict[str, str]:
        return dict(self._checksums)
