"""Batched, device-side view augmentation for text images.

Views are sequence-preserving: no horizontal flip and at most a slight horizontal crop, so
that horizontal position r in one view matches position r in the other (docs/DESIGN.md). Every
step takes the images' content widths too (the rest being padding); the crop uses them.

Each step draws its parameters per sample and works on the whole batch. The geometric part
(crop, affine, perspective) is one homography per sample, composed from kornia's matrices and
applied with one ``grid_sample``; blur and sharpening are one per-sample kernel (kornia's
Gaussian) applied with kornia's ``filter2d``; colour ops for RGB are one 3x3 matrix; contrast,
brightness and noise are one multiply-add. Composing instead of chaining is what keeps views
cheap next to the model: on the 2-core CPU, for 128 grey 32x128 images, the chain of
``kornia.augmentation`` modules with the same ranges takes ~53 ms per view, this ~8 ms
(the warp alone: kornia's ``warp_perspective`` ~18 ms, the grid below ~5 ms).
"""

import functools
import math

import torch
import torch.nn.functional as F
from kornia.filters import filter2d, get_gaussian_kernel1d
from kornia.geometry.transform import get_affine_matrix2d, get_perspective_transform
from torch import Tensor, nn

from textssl.augment import PIPELINES
from textssl.errors import UserError


def _uniform(lo: float, hi: float, n: int, like: Tensor) -> Tensor:
    """[n] values uniform in [lo, hi] on like's device and dtype."""
    return torch.rand(n, device=like.device, dtype=like.dtype) * (hi - lo) + lo


def _chosen(p: float, n: int, like: Tensor) -> Tensor:
    """bool [n]: which samples an op with probability p applies to."""
    return torch.rand(n, device=like.device) < p


class RandomWarp(nn.Module):
    """Horizontal crop-resize, affine and perspective as one homography per sample.

    crop: with probability crop_p keep the full height and a random fraction crop_area of the
    content width, resized back to the content width. affine: rotation within +-degrees, shift within
    translate = (fraction of W, fraction of H), scale, x-shear within +-shear degrees.
    perspective: with probability perspective_p each corner moves inward by up to
    distortion x half the image size. Borders are filled by replicating the edge.
    """

    def __init__(
        self,
        crop_area=(1.0, 1.0),
        crop_p=0.0,
        degrees=0.0,
        translate=(0.0, 0.0),
        scale=(1.0, 1.0),
        shear=0.0,
        distortion=0.0,
        perspective_p=0.0,
    ):
        super().__init__()
        self.crop_area, self.crop_p = crop_area, crop_p
        self.degrees, self.translate, self.scale, self.shear = degrees, translate, scale, shear
        self.distortion, self.perspective_p = distortion, perspective_p

    @property
    def identity(self) -> bool:
        return (
            (self.crop_p == 0 or self.crop_area[0] == 1.0)
            and self.degrees == 0
            and self.translate == (0.0, 0.0)
            and self.scale == (1.0, 1.0)
            and self.shear == 0
            and (self.perspective_p == 0 or self.distortion == 0)
        )

    def matrices(self, b: int, h: int, w: int, like: Tensor, widths: Tensor | None = None) -> Tensor:
        """[b, 3, 3] forward transforms, input -> output, in pixels about the image centre; ``widths``:
        each image's content width [b] (None: w)."""
        crop = torch.eye(3, device=like.device, dtype=like.dtype).repeat(b, 1, 1)
        area = torch.where(_chosen(self.crop_p, b, like), _uniform(*self.crop_area, b, like), 1.0)
        content = torch.full_like(area, w) if widths is None else widths.to(like)
        start = torch.rand_like(area) * (1 - area) * content  # the crop [start, start + area * content] of the
        crop[:, 0, 0] = 1 / area                              # content, from the left edge, fills the content
        crop[:, 0, 2] = (w / 2 - start) / area - w / 2

        s = _uniform(*self.scale, b, like)[:, None].expand(b, 2)
        shift = torch.stack([_uniform(-self.translate[0], self.translate[0], b, like) * w,
                             _uniform(-self.translate[1], self.translate[1], b, like) * h], dim=1)
        affine = get_affine_matrix2d(
            shift, torch.zeros_like(shift), s, _uniform(-self.degrees, self.degrees, b, like),
            sx=_uniform(-self.shear, self.shear, b, like) * (math.pi / 180),
        )

        forward = affine @ crop
        if self.perspective_p > 0 and self.distortion > 0:
            half = torch.tensor([w / 2, h / 2], device=like.device, dtype=like.dtype)
            corners = torch.tensor([[-1, -1], [1, -1], [1, 1], [-1, 1]], device=like.device, dtype=like.dtype)
            inward = torch.rand(b, 4, 2, device=like.device, dtype=like.dtype) * self.distortion
            inward = inward * _chosen(self.perspective_p, b, like).to(like.dtype)[:, None, None]
            src = (corners * half).expand(b, 4, 2)
            dst = corners * (1 - inward) * half
            forward = get_perspective_transform(src, dst) @ forward
        return forward

    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        b, _, h, w = x.shape
        inverse = torch.linalg.inv(self.matrices(b, h, w, x, widths))
        # output grid in normalised coordinates (align_corners=False) -> pixels -> input
        to_px = torch.tensor([w / 2, h / 2, 1.0], device=x.device, dtype=x.dtype)
        m = inverse * to_px[None, None, :] / to_px[None, :, None]                   # [B, 3, 3]
        xs = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
        ys = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
        xs, ys = xs.view(1, 1, w), ys.view(1, h, 1)
        m = m.reshape(b, 9, 1, 1)
        # written straight into the [B, H, W, 2] layout: cheaper than stacking two planes
        grid = torch.empty(b, h, w, 2, device=x.device, dtype=x.dtype)
        if self.perspective_p > 0 and self.distortion > 0:
            z = (m[:, 6] * xs + m[:, 8]) + m[:, 7] * ys
            torch.div((m[:, 0] * xs + m[:, 2]) + m[:, 1] * ys, z, out=grid[..., 0])
            torch.div((m[:, 3] * xs + m[:, 5]) + m[:, 4] * ys, z, out=grid[..., 1])
        else:
            torch.add(m[:, 0] * xs + m[:, 2], m[:, 1] * ys, out=grid[..., 0])
            torch.add(m[:, 3] * xs + m[:, 5], m[:, 4] * ys, out=grid[..., 1])
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# torchvision's / PIL's smoothing kernel for sharpness
_SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13


class RandomFilter(nn.Module):
    """Gaussian blur or unsharp-mask sharpening, one per-sample kernel, one filter2d.

    blur: with probability blur_p, sigma uniform in blur_sigma. sharpen: with probability
    sharpen_p among the samples not blurred, x + a (x - smooth(x)) with a uniform in
    [0, sharpness] (a = 1 is torchvision's sharpness factor 2). Exclusive, so the kernel
    stays as small as the blur's.
    """

    def __init__(self, blur_sigma=(0.0, 0.0), blur_p=0.0, sharpness=0.0, sharpen_p=0.0):
        super().__init__()
        self.blur_sigma, self.blur_p = blur_sigma, blur_p
        self.sharpness, self.sharpen_p = sharpness, sharpen_p
        self.radius = max(1, math.ceil(2 * blur_sigma[1]))

    @property
    def identity(self) -> bool:
        return (self.blur_p == 0 or self.blur_sigma[1] == 0) and (self.sharpen_p == 0 or self.sharpness == 0)

    def kernels(self, b: int, like: Tensor) -> Tensor:
        """[b, k, k] per-sample kernels, k = 2 * radius + 1, each summing to 1."""
        r = self.radius
        blurred = _chosen(self.blur_p, b, like)
        # a sigma of 1e-3 puts all the weight on the centre tap: the identity kernel
        sigma = torch.where(blurred, _uniform(*self.blur_sigma, b, like).clamp_min(1e-3), 1e-3)
        g = get_gaussian_kernel1d(2 * r + 1, sigma[:, None])                        # [b, k]
        kernel = g[:, :, None] * g[:, None, :]
        if self.sharpen_p > 0 and self.sharpness > 0:
            sharpened = _chosen(self.sharpen_p, b, like) & ~blurred
            a = _uniform(0.0, self.sharpness, b, like) * sharpened
            detail = -_SMOOTH.to(like)
            detail[1, 1] += 1                                                       # delta - smooth
            kernel[:, r - 1 : r + 2, r - 1 : r + 2] += a[:, None, None] * detail
        return kernel

    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        return filter2d(x, self.kernels(x.shape[0], x), border_type="replicate")


def _dilate(mask: Tensor, size: int) -> Tensor:
    """[B, 1, H, W] non-negative -> the max over each size x size neighbourhood (odd size), as a
    stride-1 max_pool2d gives, but as shifted maxima along W, then H: on the 2-core CPU, for 128
    masks of 32x128, 0.3-0.4 ms once warm against about 2 for kornia's dilation and 4 for max_pool2d."""
    out, pad = mask, size // 2
    for dim, padding in ((3, (pad, pad, 0, 0)), (2, (0, 0, pad, pad))):
        padded = F.pad(out, padding)  # zeros: no larger than any value of the mask
        out = functools.reduce(torch.maximum, (padded.narrow(dim, k, mask.shape[dim]) for k in range(size)))
    return out


class RandomSpeckle(nn.Module):
    """Dark dots at random places, new ones in every view: ``count`` squares of ``size`` pixels per
    image (with probability p), grey level uniform in [0, darkness].

    Captcha generators sprinkle dots that are unique to each image; views that share them can be
    told apart by the dots alone, a shortcut around reading the glyphs. Dots of each view's own
    make that shortcut unreliable.
    """

    def __init__(self, count: int = 0, size: int = 3, darkness: float = 0.5, p: float = 0.0):
        super().__init__()
        self.count, self.size, self.darkness, self.p = count, size, darkness, p

    @property
    def identity(self) -> bool:
        return self.count == 0 or self.p == 0

    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        b, _, h, w = x.shape
        seeds = torch.zeros(b, h * w, device=x.device, dtype=x.dtype)
        seeds.scatter_(1, torch.randint(0, h * w, (b, self.count), device=x.device), 1.0)
        seeds *= _chosen(self.p, b, x).to(x.dtype)[:, None]
        mask = _dilate(seeds.view(b, 1, h, w), self.size)
        level = _uniform(0.0, self.darkness, b, x).view(b, 1, 1, 1)
        return torch.lerp(x, level.expand_as(x), mask)


class RandomPhotometric(nn.Module):
    """Linear contrast about the image mean, multiplicative brightness, Gaussian noise.

    contrast factor uniform in [1 - contrast, 1 + contrast], brightness factor in
    [1 - brightness, 1 + brightness], lower ends at least 0.1 so that strength 2 cannot
    flatten an image; noise of std noise_std with probability noise_p.
    """

    def __init__(self, contrast=0.0, brightness=0.0, noise_std=0.0, noise_p=0.0):
        super().__init__()
        self.contrast, self.brightness = contrast, brightness
        self.noise_std, self.noise_p = noise_std, noise_p

    @property
    def identity(self) -> bool:
        return self.contrast == 0 and self.brightness == 0 and (self.noise_p == 0 or self.noise_std == 0)

    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        b = x.shape[0]
        c = _uniform(max(0.1, 1 - self.contrast), 1 + self.contrast, b, x).view(b, 1, 1, 1)
        k = _uniform(max(0.1, 1 - self.brightness), 1 + self.brightness, b, x).view(b, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        out = torch.addcmul((1 - c) * mean * k, x, c * k)                         # ((x - m) c + m) k
        if self.noise_p > 0 and self.noise_std > 0:
            # noise drawn only for the chosen samples: randn dominates this step's cost
            idx = _chosen(self.noise_p, b, x).nonzero().squeeze(1)
            noise = torch.randn(len(idx), *x.shape[1:], device=x.device, dtype=x.dtype)
            out.index_add_(0, idx, noise, alpha=self.noise_std)
        return out


# W3C filter-effects luminance weights and hue-rotation matrices (linear in RGB)
_LUMA = torch.tensor([0.213, 0.715, 0.072])
_HUE_COS = torch.eye(3) - _LUMA.expand(3, 3)
_HUE_SIN = torch.tensor([[-0.213, -0.715, 0.928], [0.143, 0.140, -0.283], [-0.787, 0.715, 0.072]])


class RandomColour(nn.Module):
    """RGB only (a no-op for other channel counts): saturation and hue jitter (together, with
    probability jitter_p), channel shuffle and grayscale, all linear in RGB, so composed into
    one 3x3 matrix per sample.

    saturation factor uniform in [1 - saturation, 1 + saturation]; hue shift uniform in
    [-hue, hue] turns (as torchvision / kornia).
    """

    def __init__(self, saturation=0.0, hue=0.0, jitter_p=0.0, shuffle_p=0.0, gray_p=0.0):
        super().__init__()
        self.saturation, self.hue, self.jitter_p = saturation, hue, jitter_p
        self.shuffle_p, self.gray_p = shuffle_p, gray_p

    @property
    def identity(self) -> bool:
        no_jitter = self.jitter_p == 0 or (self.saturation == 0 and self.hue == 0)
        return no_jitter and self.shuffle_p == 0 and self.gray_p == 0

    def matrices(self, b: int, like: Tensor) -> Tensor:
        """[b, 3, 3] colour matrices: out = M @ rgb."""
        luma, hue_cos, hue_sin = _LUMA.to(like), _HUE_COS.to(like), _HUE_SIN.to(like)
        eye = torch.eye(3, device=like.device, dtype=like.dtype)
        gray = luma.expand(3, 3)

        jitter = _chosen(self.jitter_p, b, like).to(like.dtype)[:, None, None]
        sat = 1 + _uniform(-self.saturation, self.saturation, b, like)[:, None, None] * jitter
        angle = 2 * math.pi * _uniform(-self.hue, self.hue, b, like)[:, None, None] * jitter
        m = sat * eye + (1 - sat) * gray                                           # saturation
        m = (gray + angle.cos() * hue_cos + angle.sin() * hue_sin) @ m                # hue
        if self.shuffle_p > 0:
            perm = torch.rand(b, 3, device=like.device).argsort(1)
            keep = torch.arange(3, device=like.device)
            perm = torch.where(_chosen(self.shuffle_p, b, like)[:, None], perm, keep)
            m = F.one_hot(perm, 3).to(like.dtype) @ m
        if self.gray_p > 0:
            to_gray = _chosen(self.gray_p, b, like)[:, None, None]
            m = torch.where(to_gray, gray @ m, m)
        return m

    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        b, c, h, w = x.shape
        if c != 3:
            return x
        return torch.bmm(self.matrices(b, x), x.reshape(b, 3, h * w)).view(b, c, h, w)


class ViewAugment(nn.Module):
    """A pipeline of steps; no gradient, output clamped to [0, 1]."""

    def __init__(self, steps):
        super().__init__()
        self.steps = nn.ModuleList(step for step in steps if not step.identity)

    @torch.no_grad()
    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """x: float [B, C, H, W] in [0, 1] -> float [B, C, H, W] in [0, 1]; widths: int [B] or None."""
        out = x
        for step in self.steps:
            out = step(out, widths)
        return out.clamp(0, 1) if out is x else out.clamp_(0, 1)


def _captcha(s: float) -> list:
    return [
        RandomWarp(scale=(1 - 0.1 * s, 1 + 0.05 * s), translate=(0.03 * s, 0.05 * s)),
        RandomFilter(blur_sigma=(0.1 * s, 1.2 * s), blur_p=0.5),
        RandomColour(
            saturation=0.5 * s, hue=0.1 * s, jitter_p=0.8, shuffle_p=0.5 * min(s, 1), gray_p=0.2 * min(s, 1)
        ),
        RandomPhotometric(contrast=0.4 * s, brightness=0.4 * s, noise_std=0.05 * s, noise_p=0.5),
    ]


def _seqclr(s: float, light: bool = False) -> list:
    """light: the 2-core trial's views (docs/DESIGN.md), no perspective, speckle or sharpening."""
    extras = 0.0 if light else s
    return [
        RandomWarp(
            crop_area=(1 - 0.15 * s, 1.0),
            crop_p=0.5,
            degrees=4 * s,
            translate=(0.04 * s, 0.08 * s),
            scale=(1 - 0.1 * s, 1 + 0.05 * s),
            shear=8 * s,
            distortion=0.1 * extras,
            perspective_p=0.5,
        ),
        RandomSpeckle(count=round(30 * extras), p=0.8),
        RandomFilter(blur_sigma=(0.1 * s, 1.5 * s), blur_p=0.5, sharpness=1.0 * extras, sharpen_p=0.5),
        RandomPhotometric(contrast=0.5 * s, brightness=0.4 * s, noise_std=0.05 * s, noise_p=0.5),
    ]


def _style(s: float) -> list:
    """Appearance only, no geometry: a pixel keeps its place (SimAN's augmented patch is compared with the
    original patch pixel for pixel)."""
    return [
        RandomFilter(blur_sigma=(0.1 * s, 1.5 * s), blur_p=0.5),
        RandomColour(saturation=0.5 * s, hue=0.1 * s, jitter_p=0.8, shuffle_p=0.5 * min(s, 1), gray_p=0.2 * min(s, 1)),
        RandomPhotometric(contrast=0.5 * s, brightness=0.4 * s, noise_std=0.05 * s, noise_p=0.5),
    ]


def build_view_augment(name: str, strength: float = 1.0) -> nn.Module:
    """The view pipeline `name` (one of PIPELINES), magnitudes scaled by strength in [0, 2].

    Returns a module mapping float [B, C, H, W] in [0, 1] (C = 1 or 3) to the same shape.
    """
    if name not in PIPELINES:
        raise UserError(f"unknown augmentation pipeline '{name}': use {', '.join(PIPELINES)}")
    if not 0 <= strength <= 2:
        raise UserError(f"augmentation strength must be in [0, 2], got {strength}")
    steps = {"captcha": _captcha, "seqclr": _seqclr, "seqclr-light": lambda s: _seqclr(s, light=True),
             "style": _style, "none": lambda s: []}[name](float(strength))
    return ViewAugment(steps)


def make_views(images_uint8: Tensor, augment: nn.Module, num_views: int = 2,
               widths: Tensor | None = None) -> list[Tensor]:
    """uint8 [B, C, H, W] -> num_views float views [B, C, H, W] in [0, 1], augmented
    independently; widths: the images' content widths [B], or None. Float input is taken as
    already in [0, 1]."""
    if num_views < 1:
        raise UserError(f"num_views must be at least 1, got {num_views}")
    x = images_uint8.float().div_(255) if not images_uint8.is_floating_point() else images_uint8
    return [augment(x, widths) for _ in range(num_views)]
