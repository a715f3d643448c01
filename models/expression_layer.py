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

with lambda on every coefficient, the bias included (MR's formula).

**How the batched fit gets there.** Every entry of a pixel's system is a dot
product over the pairs of two pixel values. With the *product maps*
``G_d(j) = sum_p x_p(j) x_p(j + d)`` (``d`` a 2-D offset, px) and the neighbour
offsets ``a_k``::

    (X_i^T X_i)[k, l] = G_{a_l - a_k}(i + a_k)      (X_i^T t_i)[k] = sum_p x_p(i + a_k) t_p(i)

and the bias row and column are the per-pixel sums of the sources (and targets)
and the number of pairs. So the fit accumulates, over chunks of pairs, one map
``G_d`` per offset pair +-d with |dy|, |dx| <= r - 1 (13 maps for r = 3), the
r*r *moment* maps and the two sums, instead of a whole (r*r + 1)^2 system per
pixel (:class:`RidgeAccumulator`). The maps come from small matrix products
(BLAS) on a pixel-major layout (each pixel's values of all pairs contiguous):
one product of a ``STRIP``-pixel piece of a row with the overlapping piece of
the row ``dy`` below gives all offsets ``(dy, dx)`` of those pixels as its
diagonals. The systems are then assembled from shifted maps and solved by a
Cholesky factorisation vectorised over pixels (:func:`_solve_spd`: a loop over
the r*r + 1 columns, each step elementwise on the systems of a whole band of
image rows, all channels at once), in float64, on the layer's device.

**Exact uint8 arithmetic.** Real images are uint8. Products of integers in
0..255 summed over at most ``EXACT_PAIRS`` = 258 pairs are integers below
2**24, hence exact in float32 whatever the summation order (also when float32
matmuls run with TF32 or bf16 inputs, which hold 0..255 exactly). So uint8
pairs are multiplied as raw integers in float32, <= 258 pairs at a time, the
partial sums are added in float64 (still exact integers), and only the
assembled system is scaled to the [0, 1] range (by 1/255**2, 1/255 for sums):
the same system as from [0, 1] floats up to one rounding. Float pairs in
[0, 1] take the same path in float64.

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


EXACT_PAIRS = 258
"""Most uint8 pairs whose products sum exactly in float32: 258 * 255**2 < 2**24."""

STRIP = 4
"""Pixels of a row per small matrix product when accumulating the maps (fastest measured on CPU)."""

BAND_BYTES = 2**23
"""Float pixel-major pairs converted at a time, bytes (8 MiB: a whole 128 px image of 100 pairs).

Fewer, larger bands mean fewer matrix-product calls, which matters on a loaded
machine with several threads; the time on one thread hardly depends on it."""

SOLVE_BYTES = 2**24
"""Most bytes of float64 systems solved at once (16 MiB: one block for 1 channel at 128 px)."""


def neighbour_offsets(receptive_field: int) -> list[tuple[int, int]]:
    """Offsets (dy, dx), px, of the r x r neighbours in weight order ``k = (dy + r//2) * r + dx + r//2``."""
    half = receptive_field // 2
    return [(dy, dx) for dy in range(-half, half + 1) for dx in range(-half, half + 1)]


def product_offsets(receptive_field: int) -> list[tuple[int, int]]:
    """Offsets (dy, dx), px, of the product maps: one of each pair +-d with |dy|, |dx| <= r - 1.

    Row by row: dy = 0 with dx = 0..r-1, then dy = 1..r-1 with dx = -(r-1)..r-1.
    """
    reach = receptive_field - 1
    return [(0, dx) for dx in range(reach + 1)] + [
        (dy, dx) for dy in range(1, reach + 1) for dx in range(-reach, reach + 1)
    ]


def _pixel_major(images: torch.Tensor, top: int, bottom: int, row: int) -> torch.Tensor:
    """(n, H, W) -> (top + H + bottom, row, n), same dtype, each pixel's n values contiguous.

    The image sits at rows ``top..top+H-1``, columns ``0..W-1``; everything else is 0.
    """
    n, height, width = images.shape
    out = images.new_zeros((top + height + bottom, row, n))
    image = out[top : top + height, :width]
    matrix = images.contiguous().view(n, height * width)
    if images.dtype == torch.uint8 and width % 8 == 0 and matrix.storage_offset() % 8 == 0:
        # Transpose int64 words of 8 pixels (torch's fast path for a whole 2-D
        # matrix), then the bytes within the words: ~1.5x faster than byte by byte.
        words = matrix.view(torch.int64).t().contiguous().view(-1).view(torch.uint8)
        words = words.view(height, width // 8, n, 8).transpose(2, 3)
        image.view(height, width // 8, 8, n).copy_(words)
    else:
        image.copy_(matrix.t().contiguous().view(height, width, n))
    return out


def _diagonals(out: torch.Tensor, segments: torch.Tensor, strips: torch.Tensor) -> None:
    """Dot products of every strip pixel with the segment pixels from the same place on.

    ``segments`` (L, S + m - 1, n) and ``strips`` (L, S, n) give ``out`` (m, L * S):
    ``out[e, l * S + j] = segments[l, j + e] . strips[l, j]`` for ``e < m``, from
    one small matrix product per strip.
    """
    count, size = strips.shape[:2]
    width = segments.shape[1]
    products = torch.bmm(segments, strips.transpose(1, 2))  # (L, S + m - 1, S)
    diagonals = products.as_strided(
        (width - size + 1, count, size), (size, width * size, size + 1)
    )  # [e, l, j] = products[l, j + e, j]
    out.view(-1, count, size).copy_(diagonals)


def _solve_spd(system: torch.Tensor) -> torch.Tensor:
    """Solve many small symmetric positive definite systems ``A x = b`` at once: -> (D, P).

    ``system`` (D, D + 1, P) holds the P systems by columns: ``system[l, k]`` is
    ``A[k, l]`` for ``l <= k < D`` (entries with ``k < l`` are never read) and
    ``system[l, D]`` is ``b_l``. Works in place: a right-looking Cholesky
    factorisation ``A = L L^T`` turns ``system[l, l:]`` into ``L[l:, l]``
    followed by ``z_l`` (the augmented ``[A; b^T]`` factorises to ``[L; z^T]``
    with ``z = L^-1 b``); back substitution then solves ``L^T x = z``. Each
    step is one elementwise operation on all P systems (a loop over D, not P);
    it updates the whole trailing square, both triangles, which costs more
    arithmetic than the triangle alone but far fewer operations.

    A row and column of ``A`` that are zero apart from the diagonal, with a zero
    in ``b``, stay exactly zero in ``L`` and ``z`` and give exactly 0 in ``x``.
    """
    size = system.shape[0]
    inverse_diagonal = system.new_empty(size, system.shape[-1])
    for j in range(size):
        torch.rsqrt(system[j, j], out=inverse_diagonal[j])
        column = system[j, j:]
        column *= inverse_diagonal[j]  # L[j:, j], z_j
        below = column[1:]  # A[k, m] -= L[k, j] L[m, j], b_k -= L[k, j] z_j for k, m > j
        system[j + 1 :, j + 1 :].addcmul_(below[: size - j - 1, None], below[None, :], value=-1)
    solution = system[:, size].clone()
    for j in reversed(range(size)):  # x_j = z_j / L[j, j], then z_m -= L[j, m] x_j for m < j
        solution[j] *= inverse_diagonal[j]
        solution[:j].addcmul_(system[:j, j], solution[j], value=-1)
    return solution


class RidgeAccumulator:
    """The sums over pairs that make up every pixel's normal equations, and their solve.

    ``add`` takes chunks of (source, target) pairs (n, C, H, W), either uint8
    [0, 255] (exact integer arithmetic, see the module docstring) or float in
    [0, 1] (float64); one accumulator takes one kind. ``solve`` returns the ridge
    weights (C, r*r + 1, H, W) in float64, the bias last.

    ``maps`` (K, C, margin + H * row + margin) float64 holds, for every pixel
    ``j`` of a grid of H rows of ``row`` px (the image in columns 0..W-1, zeros
    right of it) and zero margins above and below, in the units of the input
    (0..255 for uint8 pairs): the product maps ``G_d(j)`` for
    :func:`product_offsets`, the moment maps ``sum_p x_p(j + a_k) t_p(j)`` for
    :func:`neighbour_offsets`, and the sums of the sources and of the targets.
    Pixels are addressed by flat grid index, ``(dy, dx)`` being ``dy * row + dx``:
    with at least r - 1 zero columns per row, reads up to r - 1 px left or right
    of an image pixel land on zeros, also where they wrap to the next row.
    """

    def __init__(self, channels: int, image_size: int, receptive_field: int, device=None):
        check_receptive_field(receptive_field)
        self.channels = channels
        self.image_size = image_size
        self.receptive_field = receptive_field
        self.product_offsets = product_offsets(receptive_field)
        self.row = -(-(image_size + receptive_field - 1) // STRIP) * STRIP
        # Zero grid rows above and below: the shifted reads of the solve stay inside.
        self.margin = (receptive_field // 2 + 1) * self.row
        maps = len(self.product_offsets) + receptive_field**2 + 2
        grid = self.margin + image_size * self.row + self.margin
        self.maps = torch.zeros(maps, channels, grid, dtype=torch.float64, device=device)
        self.pairs = 0
        self.value_range: float | None = None  # 255 for uint8 pairs, 1 for float pairs

    def add(self, sources: torch.Tensor, targets: torch.Tensor) -> None:
        """Accumulate a chunk of pairs (n, C, H, W): both uint8 [0, 255] or both float [0, 1]."""
        if sources.shape != targets.shape or sources.dtype != targets.dtype:
            raise ValueError(
                f"sources {tuple(sources.shape)} {sources.dtype} and targets "
                f"{tuple(targets.shape)} {targets.dtype} differ"
            )
        expected = (self.channels, self.image_size, self.image_size)
        if sources.dim() != 4 or tuple(sources.shape[1:]) != expected:
            raise ValueError(
                f"pairs must be (n, {', '.join(map(str, expected))}), got {tuple(sources.shape)}"
            )
        exact = sources.dtype == torch.uint8
        value_range = 255.0 if exact else 1.0
        if self.value_range not in (None, value_range):
            raise ValueError("one accumulator takes either uint8 or float pairs, not both")
        self.value_range = value_range
        dtype = torch.float32 if exact else torch.float64
        step = EXACT_PAIRS if exact else max(len(sources), 1)
        for start in range(0, len(sources), step):
            chunk_sources = sources[start : start + step].to(self.maps.device)
            chunk_targets = targets[start : start + step].to(self.maps.device)
            for channel in range(self.channels):
                grid = self.maps[:, channel, self.margin : -self.margin]
                grid += self._chunk_maps(
                    chunk_sources[:, channel], chunk_targets[:, channel], dtype
                )
        self.pairs += len(sources)

    def _chunk_maps(self, sources: torch.Tensor, targets: torch.Tensor, dtype) -> torch.Tensor:
        """The maps (K, H * row) of one channel's pairs (n, H, W), multiplied and summed in ``dtype``.

        The pixel-major copies are made once in the input dtype (one byte a value
        for uint8) and converted to ``dtype`` a band of image rows at a time (at
        most about ``BAND_BYTES``), into one reused buffer.
        """
        half, reach = self.receptive_field // 2, self.receptive_field - 1
        row, size, n = self.row, self.image_size, len(sources)
        # Zero rows around the image: moments read up to half a field above (and
        # half a field left of the first pixel), products up to r - 1 rows below
        # (and r - 1 px right of the last pixel).
        top, below = half + 1, reach + 1
        pixels = _pixel_major(sources, top, below, row)
        target_pixels = _pixel_major(targets, 0, 0, row)
        maps = pixels.new_empty(len(self.maps), size * row, dtype=dtype)
        band = max(1, min(size, BAND_BYTES // (row * n * dtype.itemsize)))
        source_band = pixels.new_empty((top + band + below) * row * n, dtype=dtype)
        target_band = pixels.new_empty(band * row * n, dtype=dtype)
        for y in range(0, size, band):
            rows = min(band, size - y)
            source = source_band[: (top + rows + below) * row * n]
            source.view(-1, row, n).copy_(pixels[y : y + top + rows + below])
            target = target_band[: rows * row * n]
            target.view(-1, row, n).copy_(target_pixels[y : y + rows])
            self._band_maps(maps[:, y * row : (y + rows) * row], source, target, n, top)
        return maps

    def _band_maps(
        self, out: torch.Tensor, source: torch.Tensor, target: torch.Tensor, n: int, top: int
    ) -> None:
        """Fill ``out`` (K, rows * row), the maps of a band of grid rows, from its pixel-major pairs.

        ``source`` (flat) holds the band's rows with ``top`` rows above and r rows
        below, ``target`` (flat) just the band's rows; n values per pixel each.
        """
        half, reach, row = self.receptive_field // 2, self.receptive_field - 1, self.row
        count = out.shape[1] // STRIP

        def pieces(data: torch.Tensor, first: int, width: int) -> torch.Tensor:
            """(count, width, n) view: piece l = pixels first + l * STRIP + 0..width-1 of ``data``."""
            return data.as_strided((count, width, n), (STRIP * n, n, 1), first * n)

        strips = pieces(source, top * row, STRIP)  # the band's pixels, STRIP at a time
        start = 0
        for dy in range(reach + 1):
            left = 0 if dy == 0 else -reach  # dx = left..reach, as in product_offsets
            end = start + reach - left + 1
            segments = pieces(source, (top + dy) * row + left, STRIP + reach - left)
            _diagonals(out[start:end], segments, strips)
            start = end
        target_strips = pieces(target, 0, STRIP)
        for dy in range(-half, half + 1):  # dx = -half..half, as in neighbour_offsets
            segments = pieces(source, (top + dy) * row - half, STRIP + 2 * half)
            _diagonals(out[start : start + 2 * half + 1], segments, target_strips)
            start += 2 * half + 1
        rows = out.shape[1] // row
        torch.sum(source.view(-1, row, n)[top : top + rows], -1, out=out[-2].view(rows, row))
        torch.sum(target.view(-1, n), -1, out=out[-1])

    def solve(self, ridge_lambda: float) -> torch.Tensor:
        """Ridge weights (C, r*r + 1, H, W) float64; absent neighbours get exactly 0.

        Every pixel of the grid is solved, the zero columns right of the image
        too (their systems are those of the zero-padded images, equally well
        posed), in bands of grid rows (all channels at once) of at most about
        ``SOLVE_BYTES`` of systems.
        """
        if ridge_lambda <= 0:
            raise ValueError(f"ridge_lambda must be > 0, got {ridge_lambda}")
        if self.pairs == 0:
            raise ValueError("no pairs were added; nothing to fit")
        r, row, size, channels = self.receptive_field, self.row, self.image_size, self.channels
        taps = neighbour_offsets(r)
        features = r * r + 1
        products = {offset: m for m, offset in enumerate(self.product_offsets)}
        moments = len(products)
        source_sum, target_sum = moments + r * r, moments + r * r + 1
        maps, margin, unit = self.maps, self.margin, self.value_range
        # Column l of a system (neighbour b = taps[l]) holds x(i + a_k) x(i + b) =
        # G_{a_k - b}(i + b) for rows k >= l (a_k - b is then a product offset), then
        # the bias row (the source sum at i + b); b_l is moment l at i. The bias
        # column holds the number of pairs and b is the target sum.
        gathers = []
        for column, b in enumerate(taps):
            rows = [products[(a[0] - b[0], a[1] - b[1])] for a in taps[column:]]
            gathers.append(torch.tensor([*rows, source_sum], device=maps.device))
        # From the units of the input to the [0, 1] range: products / value_range**2,
        # sums / value_range.
        divisors = maps.new_full((features, features + 1, 1, 1), unit**2)
        divisors[:, r * r] = unit
        divisors[r * r, r * r] = 1
        divisors[r * r, features] = unit
        band = max(1, SOLVE_BYTES // (features * (features + 1) * channels * row * 8))
        buffer = maps.new_empty(features * (features + 1) * channels * min(band, size) * row)
        weights = maps.new_empty(features, channels, size * row)
        for y in range(0, size, band):
            first, last = margin + y * row, margin + min(y + band, size) * row
            system = buffer[: features * (features + 1) * channels * (last - first)]
            system = system.view(features, features + 1, channels, last - first)
            for column, (dy, dx) in enumerate(taps):
                shift = dy * row + dx
                source = maps[:, :, first + shift : last + shift]
                torch.index_select(source, 0, gathers[column], out=system[column, column:-1])
                system[column, -1] = maps[moments + column, :, first:last]
            system[r * r, r * r] = self.pairs
            system[r * r, -1] = maps[target_sum, :, first:last]
            system /= divisors
            system.diagonal(dim1=0, dim2=1).add_(ridge_lambda)
            solution = _solve_spd(system.view(features, features + 1, -1))
            weights[:, :, first - margin : last - margin] = solution.view(features, channels, -1)
        weights = weights.view(features, channels, size, row)[..., :size]
        return weights.transpose(0, 1).contiguous()


def fit_ridge_maps(
    sources: torch.Tensor,
    targets: torch.Tensor,
    receptive_field: int,
    ridge_lambda: float,
    chunk_size: int = 256,
) -> torch.Tensor:
    """Closed-form ridge maps for pairs (n, C, H, W) -> (C, r*r + 1, H, W) float64.

    Pairs are uint8 [0, 255] (exact integer products) or float in [0, 1].
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
        self, expression: int, sources: torch.Tensor, targets: torch.Tensor, chunk_size: int = 256
    ) -> None:
        """Fit map ``expression`` in closed form from pairs (n, 3, H, W) of neutral sources and targets.

        Images are uint8 [0, 255] (fitted with exact integer products) or float
        [-1, 1]; the solve runs in float64 on this layer's device, ``chunk_size``
        pairs at a time.
        """
        device = self.weight.device
        accumulator = RidgeAccumulator(
            self.weight.shape[1], self.image_size, self.receptive_field, device=device
        )
        for start in range(0, len(sources), chunk_size):
            chunk_sources = sources[start : start + chunk_size].to(device)
            chunk_targets = targets[start : start + chunk_size].to(device)
            if chunk_sources.dtype != torch.uint8 or chunk_targets.dtype != torch.uint8:
                chunk_sources, chunk_targets = to_unit(chunk_sources), to_unit(chunk_targets)
            accumulator.add(chunk_sources, chunk_targets)
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
