"""Image building blocks the ops share: colour transfer, resampling, blurs.

Each is defined so that the WebGL twin (web/src/effects/) can compute exactly the same thing:
bilinear sampling clamps the *position* to the image (equal to clamp-to-edge texturing), and the
large blur is a fixed recipe (a box-halving pyramid, a small separable Gaussian at the coarse level,
one bilinear upsample) rather than "a Gaussian, however computed". That recipe is also what keeps
big blurs cheap: a 4096² bloom of sigma 400 px blurs a 64² image.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

# Rec. 709 luma weights (applied to the encoded values, as video does).
LUMA = (0.2126, 0.7152, 0.0722)

# The coarse-level blur never exceeds this sigma (px): the pyramid halves until it fits.
MAX_LEVEL_SIGMA = 3.0


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer function, inverted (IEC 61966-2-1)."""
    # ((x + 0.055) / 1.055) ** 2.4 as exp(2.4 log(.)): vectorised, twice as fast as pow on CPU; in place.
    high = x.clamp(min=0.0).add_(0.055).div_(1.055).log_().mul_(2.4).exp_()
    return torch.where(x <= 0.04045, x / 12.92, high, out=high)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer function (IEC 61966-2-1); input clamped to [0, 1] first."""
    x = x.clamp(0.0, 1.0)
    high = x.log().mul_(1.0 / 2.4).exp_().mul_(1.055).sub_(0.055)  # 1.055 x^(1/2.4) - 0.055
    return torch.where(x <= 0.0031308, x * 12.92, high, out=high)


def luma(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) Rec. 709 luma."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return LUMA[0] * r + LUMA[1] * g + LUMA[2] * b


def _upsample_axis(image: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Linear resampling along one axis with half-pixel centres (the formula of resize_bilinear)."""
    n = image.shape[dim]
    if n == size:
        return image
    pos = ((torch.arange(size, device=image.device, dtype=torch.float32) + 0.5) * (n / size) - 0.5).clamp_(min=0)
    i0 = pos.floor()
    frac = pos - i0
    lo = i0.long().clamp_(max=n - 1)
    hi = (lo + 1).clamp_(max=n - 1)
    if dim == -2:
        return _upsample_rows(image, lo, hi, frac)
    first, second = image.index_select(dim, lo), image.index_select(dim, hi)
    return first.lerp_(second, frac)


def _upsample_rows(image: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    """Rows out[r] = image[lo[r]] + frac[r] (image[hi[r]] - image[lo[r]]), written block by block.

    Output rows sharing a source row form one block (lo is non-decreasing), so the full-size result is
    the only full-size allocation: at 4096² a fresh tensor costs more than the arithmetic.
    """
    out = image.new_empty((*image.shape[:-2], lo.numel(), image.shape[-1]))
    n = image.shape[-2]
    diff = image.narrow(-2, 1, n - 1) - image.narrow(-2, 0, n - 1) if n > 1 else None  # (.., n - 1, W)
    starts = [*torch.searchsorted(lo, torch.arange(n, device=lo.device)).tolist(), lo.numel()]
    for row, (r0, r1) in enumerate(itertools.pairwise(starts)):
        if r0 == r1:
            continue
        base = image.narrow(-2, row, 1)
        if diff is None or int(hi[r0]) == row:  # the last source row: no neighbour below (clamped)
            out.narrow(-2, r0, r1 - r0).copy_(base.expand_as(out.narrow(-2, r0, r1 - r0)))
        else:
            torch.addcmul(base, frac[r0:r1].view(-1, 1), diff.narrow(-2, row, 1), out=out.narrow(-2, r0, r1 - r0))
    return out


def resize_bilinear(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize with half-pixel centres: source = (dst + 0.5) * in / out - 0.5, clamped to the edge.

    The value is torch's interpolate(mode="bilinear", align_corners=False); the way is picked for
    speed: exact halving is a 2x2 average, upsampling runs separably (along x on the small image,
    then whole rows along y), which is several times faster than interpolate on one CPU thread.
    """
    in_h, in_w = image.shape[-2:]
    if (in_h, in_w) == (height, width):
        return image
    if (in_h, in_w) == (2 * height, 2 * width):
        return F.avg_pool2d(image, 2)  # source 2i + 0.5: the mean of pixels 2i and 2i + 1 per axis
    if height >= in_h and width >= in_w:
        return _upsample_axis(_upsample_axis(image, width, -1), height, -2)
    return F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)


def gaussian_weights(sigma: float, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian taps, radius ceil(3 sigma): (2r + 1,)."""
    radius = max(1, math.ceil(3.0 * sigma))
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    w = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return w / w.sum()


def separable_gaussian(image: torch.Tensor, sigma_x: float, sigma_y: float) -> torch.Tensor:
    """Separable Gaussian blur with edge-replicate borders; a sigma below 0.05 px skips that axis."""
    b, c, h, w = image.shape
    x = image.reshape(b * c, 1, h, w)
    if sigma_x >= 0.05:
        k = gaussian_weights(sigma_x, image.device)
        r = (k.numel() - 1) // 2
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    if sigma_y >= 0.05:
        k = gaussian_weights(sigma_y, image.device)
        r = (k.numel() - 1) // 2
        x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return x.reshape(b, c, h, w)


def pyramid_levels(height: int, width: int, sigma: float) -> list[tuple[int, int]]:
    """Sizes of the halving pyramid for a blur of ``sigma`` px: [(H, W), (ceil(H/2), ceil(W/2)), ...].

    Halve while the blur left to do exceeds MAX_LEVEL_SIGMA px and a side is longer than 8 px.
    """
    sizes = [(height, width)]
    while sigma / (2 ** (len(sizes) - 1)) > MAX_LEVEL_SIGMA and max(sizes[-1]) > 8:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def pyramid_blur(image: torch.Tensor, sigma: float, levels: list[torch.Tensor] | None = None) -> torch.Tensor:
    """A Gaussian-like blur of ``sigma`` px, at any sigma, in time linear in the pixel count.

    (B, C, H, W) -> (B, C, H, W). Recipe: halve the image with 2x2 box averages (bilinear at half
    size) until the remaining sigma is at most 3 px, blur there with a separable Gaussian whose sigma
    is scaled by the level's true size ratio per axis, and resize back with one bilinear upsample.
    ``levels`` caches the halved images between calls on the same image (levels[0] is the image).
    """
    if sigma < 0.05:
        return image
    height, width = image.shape[-2:]
    sizes = pyramid_levels(height, width, sigma)
    levels = levels if levels is not None else [image]
    while len(levels) < len(sizes):
        h, w = sizes[len(levels)]
        levels.append(resize_bilinear(levels[-1], h, w))
    h, w = sizes[-1]
    x = separable_gaussian(levels[len(sizes) - 1], sigma * w / width, sigma * h / height)
    return resize_bilinear(x, height, width)


def _lerp_axis(image: torch.Tensor, pos: torch.Tensor, dim: int) -> torch.Tensor:
    """Linear interpolation along one axis at positions ``pos`` (pixel-index units), clamped to the image."""
    n = image.shape[dim]
    pos = pos.clamp(0, n - 1)
    i0 = pos.floor()
    frac = pos - i0
    lo = i0.long()
    hi = (lo + 1).clamp_(max=n - 1)
    first, second = image.index_select(dim, lo), image.index_select(dim, hi)
    return first.lerp_(second, frac.view(-1, 1) if dim == -2 else frac)


def sample_separable(image: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of (B, C, H, W) on the grid xs (W',) x ys (H',) -> (B, C, H', W').

    For warps whose x depends only on the column and y only on the row (scalings, shifts), bilinear
    sampling is separable: interpolate along x, then along y. Positions are pixel indices (pixel i's
    centre at i), clamped to the image (= clamp-to-edge), as in the shaders' ``bilinear``.
    """
    return _lerp_axis(_lerp_axis(image, xs, -1), ys, -2)


def _shift_axis(image: torch.Tensor, offset: float, dim: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Sample along one axis (-1: x, -2: y) at i + offset, linear, positions clamped to the image.

    With n = floor(offset) and f = offset - n: (1 - f) x[clamp(i + n)] + f x[clamp(i + n + 1)], which
    equals sampling at the clamped position (both taps land on the edge pixel where it clamps).
    Written as slices: the interior is one lerp of two views, the clamped ends copy the edge pixel.
    ``out`` (shaped like image, not overlapping it) receives the result when given.
    """
    size = image.shape[dim]
    n = math.floor(offset)
    frac = offset - n
    out = torch.empty_like(image) if out is None else out
    # Interior: 0 <= i + n and i + n + 1 <= size - 1  ->  i in [lo, hi).
    lo, hi = max(0, -n), min(size, size - n - 1)
    if lo < hi:
        first = image.narrow(dim, lo + n, hi - lo)
        torch.lerp(first, image.narrow(dim, lo + n + 1, hi - lo), frac, out=out.narrow(dim, lo, hi - lo))
    else:
        lo = hi = min(max(0, -n), size)
    # Left end: both taps at index <= 0 (or the first tap clamped): the edge pixel, except i + n = -1
    # (taps -1 -> 0 and 0): also x[0]. Right end: taps at >= size - 1: x[size - 1].
    if lo > 0:
        out.narrow(dim, 0, lo).copy_(image.narrow(dim, 0, 1).expand_as(out.narrow(dim, 0, lo)))
    if hi < size:
        # i + n = size - 1 exactly: taps size - 1 and size (clamped): x[size - 1]; beyond: the same.
        out.narrow(dim, hi, size - hi).copy_(
            image.narrow(dim, size - 1, 1).expand_as(out.narrow(dim, hi, size - hi))
        )
    return out


def shift_bilinear(
    image: torch.Tensor,
    dx: float,
    dy: float,
    out: torch.Tensor | None = None,
    scratch: torch.Tensor | None = None,
) -> torch.Tensor:
    """out[y, x] = image sampled at (x + dx, y + dy), bilinear, positions clamped to the image.

    A constant shift makes bilinear sampling separable: a linear shift along x, then along y. A zero
    shift returns ``image`` itself. ``out`` and ``scratch`` (shaped like image, distinct from it and
    from each other) let a caller reuse buffers: at 4096² a fresh 200 MB tensor costs several times
    the arithmetic (page faults).
    """
    if dx != 0.0 and dy != 0.0:
        return _shift_axis(_shift_axis(image, dx, -1, scratch), dy, -2, out)
    if dx != 0.0:
        return _shift_axis(image, dx, -1, out)
    if dy != 0.0:
        return _shift_axis(image, dy, -2, out)
    return image
