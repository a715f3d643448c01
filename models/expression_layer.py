"""The expression layer: ridge regression with local receptive fields (MR, and RegGAN's G_E).

Every output pixel ``i`` of colour channel ``c`` is an affine function of the
``r x r`` neighbourhood of pixel ``i`` in the same channel of the input, with
one weight map per target expression::

    y[e, c, i] = sum_{k in N(i)} w[e, c, i, k] * x[c, k] + b[e, c, i]

Images are scaled to [0, 1] before the regression, as in the authors' MR code;
the layer's interface uses the harness range [-1, 1] on both sides.

**Borders.** Neighbours outside the image are *absent*: a border pixel has
fewer regressors (e.g. 4 + bias in a corner for r = 3), exactly as in MR's
per-pixel solve. The batched solve keeps one fixed ``r*r + 1`` layout for every
pixel and gives an absent neighbour the feature value 0 in every pair. Its row
and column of ``X^T X`` are then exactly 0 apart from the diagonal lambda and
its entry of ``X^T t`` is 0, so the system is block diagonal: the absent
weight comes out exactly 0 and the others are exactly the reduced per-pixel
solution (for any lambda > 0; Cholesky keeps the zero blocks zero).

**Closed form.** For pixel ``i`` and features ``X_i`` (pairs x (r*r + 1), the
last column the constant 1) and targets ``t_i``::

    w_i = (X_i^T X_i + lambda * I)^-1 X_i^T t_i

with lambda on every coefficient, the bias included (MR's formula). All pixels
and channels are solved at once in float64 (batched Cholesky) on the layer's
device; the normal equations are accumulated over chunks of pairs so memory
does not grow with the number of pairs.

:func:`models.ridge_reference.per_pixel_ridge` is the plain pixel-by-pixel
solve that tests and ``bench perf expression-layer`` compare against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Images as float64 in [0, 1]: uint8 [0, 255] or float [-1, 1] in, same shape out."""
    if images.dtype == torch.uint8:
        return images.to(torch.float64) / 255.0
    return (images.to(torch.float64) + 1.0) / 2.0


def neighbourhoods(images: torch.Tensor, receptive_field: int) -> torch.Tensor:
    """``r x r`` neighbourhoods of every pixel, per channel, absent neighbours as 0.

    ``images`` (N, C, H, W) -> (N, C, r*r, H, W); index ``k = dy * r + dx`` is the
    neighbour at offset ``(dy - r//2, dx - r//2)``.
    """
    n, c, h, w = images.shape
    r = receptive_field
    patches = F.unfold(images.reshape(n * c, 1, h, w), r, padding=r // 2)
    return patches.reshape(n, c, r * r, h, w)


def check_receptive_field(receptive_field: int) -> None:
    """Raise ``ValueError`` unless the receptive field is a positive odd number of pixels."""
    if receptive_field < 1 or receptive_field % 2 == 0:
        raise ValueError(f"receptive_field must be a positive odd integer, got {receptive_field}")


TILE = 4
"""Side (px) of the pixel tiles the normal equations are gathered in (fastest measured on CPU)."""


def _tiles(images: torch.Tensor, window: int, stride: int, pad: tuple[int, int]) -> torch.Tensor:
    """Square windows of side ``window`` every ``stride`` px: (n, C, H, W) -> (C, L, n, window**2).

    ``pad`` = (before, after) zero padding of both spatial axes; L is the number of tiles.
    """
    n, c = images.shape[:2]
    padded = F.pad(images, (pad[0], pad[1], pad[0], pad[1]))
    windows = padded.unfold(2, window, stride).unfold(3, window, stride)  # n, C, Ly, Lx, w, w
    return windows.permute(1, 2, 3, 0, 4, 5).reshape(c, -1, n, window * window)


class RidgeAccumulator:
    """Normal equations ``X^T X`` and ``X^T t`` of every pixel and channel, summed over pairs.

    ``add`` takes chunks of (source, target) images in [0, 1]; ``solve`` returns
    the ridge weights (C, r*r + 1, H, W) in float64, the bias last.

    Pixels are grouped in ``TILE x TILE`` tiles: one small matrix product per
    tile over its window with a halo of r//2 px gives the products of every
    pair of pixels in the window, from which each pixel's (r*r + 1)^2 system is
    gathered. This keeps the work in matrix products (BLAS) instead of one
    small product per pixel.
    """

    def __init__(self, channels: int, image_size: int, receptive_field: int, device=None):
        check_receptive_field(receptive_field)
        self.image_size = image_size
        self.receptive_field = receptive_field
        self.padded_size = -(-image_size // TILE) * TILE
        self.window = TILE + 2 * (receptive_field // 2)
        tiles = (self.padded_size // TILE) ** 2
        window_pixels = self.window**2
        options = dict(dtype=torch.float64, device=device)
        self.window_gram = torch.zeros(channels, tiles, window_pixels, window_pixels, **options)
        self.window_sum = torch.zeros(channels, tiles, window_pixels, **options)
        self.window_moment = torch.zeros(channels, tiles, window_pixels, TILE * TILE, **options)
        self.target_sum = torch.zeros(channels, tiles, TILE * TILE, **options)
        self.pairs = 0

    def add(self, sources: torch.Tensor, targets: torch.Tensor) -> None:
        """Accumulate a chunk of pairs: (n, C, H, W) float in [0, 1] each."""
        device = self.window_gram.device
        sources = sources.to(device, torch.float64)
        targets = targets.to(device, torch.float64)
        half = self.receptive_field // 2
        extra = self.padded_size - self.image_size
        windows = _tiles(sources, self.window, TILE, (half, half + extra))  # C, L, n, S*S
        pixels = _tiles(targets, TILE, TILE, (0, extra))  # C, L, n, T*T
        self.window_gram += windows.transpose(-1, -2) @ windows
        self.window_moment += windows.transpose(-1, -2) @ pixels
        self.window_sum += windows.sum(dim=2)
        self.target_sum += pixels.sum(dim=2)
        self.pairs += len(sources)

    def _feature_slots(self) -> torch.Tensor:
        """(T*T, D) int64: for each pixel of a tile, the window slots of its D = r*r + 1 features.

        Its r x r neighbours in the tile's window, then the bias slot (the last one).
        """
        r, size = self.receptive_field, self.window
        pixel_y, pixel_x = torch.meshgrid(torch.arange(TILE), torch.arange(TILE), indexing="ij")
        tap_y, tap_x = torch.meshgrid(torch.arange(r), torch.arange(r), indexing="ij")
        taps = (pixel_y.reshape(-1, 1) + tap_y.reshape(1, -1)) * size + (
            pixel_x.reshape(-1, 1) + tap_x.reshape(1, -1)
        )
        bias = torch.full((TILE * TILE, 1), size * size)
        return torch.cat([taps, bias], dim=1).to(self.window_gram.device)

    def solve(self, ridge_lambda: float) -> torch.Tensor:
        """Ridge weights (C, r*r + 1, H, W) float64; absent neighbours get exactly 0."""
        if ridge_lambda <= 0:
            raise ValueError(f"ridge_lambda must be > 0, got {ridge_lambda}")
        if self.pairs == 0:
            raise ValueError("no pairs were added; nothing to fit")
        c, tiles, window_pixels = self.window_sum.shape
        features = self.receptive_field**2 + 1
        # The bias is one more window slot whose products are the sums and the pair count.
        products = self.window_gram.new_empty(c, tiles, window_pixels + 1, window_pixels + 1)
        products[..., :-1, :-1] = self.window_gram
        products[..., :-1, -1] = self.window_sum
        products[..., -1, :-1] = self.window_sum
        products[..., -1, -1] = self.pairs
        slots = self._feature_slots()  # T*T, D
        pairs_of_slots = slots.unsqueeze(-1) * (window_pixels + 1) + slots.unsqueeze(-2)
        system = products.flatten(2).index_select(2, pairs_of_slots.flatten())
        system = system.reshape(c, tiles, TILE * TILE, features, features)
        system.diagonal(dim1=-2, dim2=-1).add_(ridge_lambda)
        moment = torch.cat([self.window_moment, self.target_sum.unsqueeze(2)], dim=2)
        own = torch.arange(TILE * TILE, device=slots.device).unsqueeze(1)
        rhs = moment[:, :, slots, own]  # C, L, T*T, D
        factor = torch.linalg.cholesky(system)
        weights = torch.cholesky_solve(rhs.unsqueeze(-1), factor).squeeze(-1)
        side = self.padded_size // TILE
        weights = weights.reshape(c, side, side, TILE, TILE, features).permute(0, 5, 1, 3, 2, 4)
        weights = weights.reshape(c, features, self.padded_size, self.padded_size)
        return weights[:, :, : self.image_size, : self.image_size].contiguous()


def fit_ridge_maps(
    sources: torch.Tensor,
    targets: torch.Tensor,
    receptive_field: int,
    ridge_lambda: float,
    chunk_size: int = 64,
) -> torch.Tensor:
    """Closed-form ridge maps for pairs (n, C, H, W) in [0, 1] -> (C, r*r + 1, H, W) float64.

    Computed on ``sources``' device, ``chunk_size`` pairs at a time.
    """
    n, c, h, w = sources.shape
    if targets.shape != sources.shape:
        raise ValueError(
            f"sources {tuple(sources.shape)} and targets {tuple(targets.shape)} differ"
        )
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    accumulator = RidgeAccumulator(c, h, receptive_field, device=sources.device)
    for start in range(0, n, chunk_size):
        accumulator.add(sources[start : start + chunk_size], targets[start : start + chunk_size])
    return accumulator.solve(ridge_lambda)


class ExpressionLayer(nn.Module):
    """Per-expression, per-pixel local affine maps (r x r + bias), differentiable.

    Parameters: ``weight`` (E, 3, r*r, H, W) and ``bias`` (E, 3, H, W), float32,
    acting on images scaled to [0, 1]. Every map starts as the identity
    (centre weight 1, bias 0), so an expression without training pairs (and
    ``neutral``) passes the input through unchanged.
    """

    def __init__(
        self,
        image_size: int,
        num_expressions: int,
        receptive_field: int = 3,
        ridge_lambda: float = 0.4,
        channels: int = 3,
    ):
        super().__init__()
        check_receptive_field(receptive_field)
        if ridge_lambda <= 0:
            raise ValueError(f"ridge_lambda must be > 0, got {ridge_lambda}")
        self.image_size = image_size
        self.receptive_field = receptive_field
        self.ridge_lambda = float(ridge_lambda)
        taps = receptive_field**2
        weight = torch.zeros(num_expressions, channels, taps, image_size, image_size)
        weight[:, :, taps // 2] = 1.0
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(num_expressions, channels, image_size, image_size))

    @torch.no_grad()
    def fit_expression(
        self, expression: int, sources: torch.Tensor, targets: torch.Tensor, chunk_size: int = 64
    ) -> None:
        """Fit map ``expression`` in closed form from pairs (n, 3, H, W) of neutral sources and targets.

        Images are uint8 [0, 255] or float [-1, 1]; the solve runs in float64 on
        this layer's device, ``chunk_size`` pairs at a time.
        """
        device = self.weight.device
        accumulator = RidgeAccumulator(
            self.weight.shape[1], self.image_size, self.receptive_field, device=device
        )
        for start in range(0, len(sources), chunk_size):
            accumulator.add(
                to_unit(sources[start : start + chunk_size].to(device)),
                to_unit(targets[start : start + chunk_size].to(device)),
            )
        maps = accumulator.solve(self.ridge_lambda)
        self.weight[expression] = maps[:, :-1].to(self.weight.dtype)
        self.bias[expression] = maps[:, -1].to(self.bias.dtype)

    def forward(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Apply each image's target map: (B, 3, H, W) in [-1, 1], (B,) int64 -> (B, 3, H, W).

        The output is on the [-1, 1] scale but not clamped (a linear map can
        overshoot); it is computed in float32 even under autocast.
        """
        with torch.autocast(images.device.type, enabled=False):
            unit = (images.float() + 1.0) / 2.0
            patches = neighbourhoods(unit, self.receptive_field)
            weight = self.weight[target_expressions]
            output = (patches * weight).sum(dim=2) + self.bias[target_expressions]
            return output * 2.0 - 1.0
