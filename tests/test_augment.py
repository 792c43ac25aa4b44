import pytest
import torch
import torch.nn.functional as F

from textssl.augment.preview import write_preview
from textssl.augment.views import (
    PIPELINES,
    RandomColour,
    RandomFilter,
    RandomPhotometric,
    RandomSpeckle,
    RandomWarp,
    _dilate,
    build_view_augment,
    make_views,
)
from textssl.errors import UserError


def _images(c, b=16, h=32, w=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("name", PIPELINES)
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("strength", [1.0, 2.0])
def test_shape_dtype_range(name, c, strength):
    images = _images(c)
    views = make_views(images, build_view_augment(name, strength), num_views=3)
    assert len(views) == 3
    for v in views:
        assert v.shape == images.shape and v.dtype == torch.float32
        assert v.min() >= 0 and v.max() <= 1


@pytest.mark.parametrize("name", ["captcha", "seqclr", "seqclr-light"])
def test_views_differ(name):
    a, b = make_views(_images(1), build_view_augment(name))
    assert (a - b).abs().mean() > 1e-3


@pytest.mark.parametrize("name", PIPELINES)
@pytest.mark.parametrize("c", [1, 3])
def test_strength_zero_is_identity(name, c):
    x = _images(c).float() / 255
    torch.testing.assert_close(build_view_augment(name, 0.0)(x), x)


def test_identity_warp_resamples_exactly():
    x = _images(3).float() / 255
    torch.testing.assert_close(RandomWarp()(x), x, atol=1e-4, rtol=0)


@pytest.mark.parametrize("warp", [RandomWarp(crop_area=(0.5, 0.5), crop_p=1.0), RandomWarp(scale=(2.0, 2.0))])
def test_crop_and_scale_zoom_in_without_flip(warp):
    # a horizontal ramp keeps its direction and its slope halves
    ramp = torch.arange(128, dtype=torch.float32).div(128).expand(4, 1, 32, 128)
    slope = warp(ramp).diff(dim=-1)[..., 16:-16]
    torch.testing.assert_close(slope, torch.full_like(slope, 0.5 / 128), atol=1e-4, rtol=0)


def test_filter_preserves_constant_images():
    x = torch.full((8, 1, 32, 128), 0.3)
    out = RandomFilter(blur_sigma=(0.1, 1.5), blur_p=1.0, sharpness=1.0, sharpen_p=1.0)(x)
    torch.testing.assert_close(out, x)


def test_colour_grayscale_and_channel_count():
    x = _images(3).float() / 255
    gray = RandomColour(saturation=0.5, hue=0.1, jitter_p=1.0, shuffle_p=1.0, gray_p=1.0)(x)
    torch.testing.assert_close(gray[:, 0], gray[:, 1])
    torch.testing.assert_close(gray[:, 1], gray[:, 2])
    single = _images(1).float() / 255
    assert torch.equal(RandomColour(saturation=0.5, shuffle_p=1.0, gray_p=1.0)(single), single)


@pytest.mark.parametrize("name", ["captcha", "seqclr", "seqclr-light"])
@pytest.mark.parametrize("c", [1, 3])
def test_no_horizontal_flip(name, c):
    # left bright, right dark: every view of every sample must stay brighter on the left
    x = torch.full((64, c, 32, 128), 0.1)
    x[..., :64] = 0.9
    x = (x * 255).to(torch.uint8)
    for v in make_views(x, build_view_augment(name, 1.0), num_views=2):
        left, right = v[..., :40].mean(dim=(1, 2, 3)), v[..., -40:].mean(dim=(1, 2, 3))
        assert (left > right + 0.1).all()


def test_seqclr_light_is_seqclr_without_perspective_speckle_and_sharpening():
    light, full = build_view_augment("seqclr-light", 1.0).steps, build_view_augment("seqclr", 1.0).steps
    assert [type(s) for s in light] == [RandomWarp, RandomFilter, RandomPhotometric]
    assert [type(s) for s in full] == [RandomWarp, RandomSpeckle, RandomFilter, RandomPhotometric]
    assert light[0].perspective_p * light[0].distortion == 0 and light[1].sharpness == 0
    assert (light[0].degrees, light[0].shear, light[0].crop_area) == (full[0].degrees, full[0].shear, full[0].crop_area)
    assert light[1].blur_sigma == full[2].blur_sigma
    photometric = lambda p: (p.contrast, p.brightness, p.noise_std, p.noise_p)  # noqa: E731
    assert photometric(light[2]) == photometric(full[3])


def test_errors():
    with pytest.raises(UserError, match="unknown augmentation pipeline 'nope'"):
        build_view_augment("nope")
    for bad in (-0.1, 2.5):
        with pytest.raises(UserError):
            build_view_augment("seqclr", bad)
    with pytest.raises(UserError):
        make_views(_images(1), build_view_augment("none"), num_views=0)


def test_write_preview(tmp_path):
    out = tmp_path / "preview.png"
    write_preview(_images(1, b=3), str(out), build_view_augment("seqclr"), num_views=2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_speckle_draws_new_dark_dots_in_every_view():
    white = torch.ones(4, 1, 32, 128)
    speckle = RandomSpeckle(count=10, size=3, darkness=0.5, p=1.0)
    a, b = speckle(white), speckle(white)
    dark = (a < 1).flatten(1).sum(1)
    assert ((dark >= 9) & (dark <= 10 * 9)).all()  # ten 3x3 dots, some overlapping or cut at the border
    assert a.min() >= 0 and not torch.equal(a < 1, b < 1)
    assert torch.equal(RandomSpeckle(count=10, p=0.0)(white), white)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_dilate_is_a_stride_one_max_pool(size):
    g = torch.Generator().manual_seed(size)
    mask = (torch.rand(6, 1, 32, 128, generator=g) < 0.02).float() * torch.rand(6, 1, 32, 128, generator=g)
    mask[0, 0, 0, 0] = mask[1, 0, -1, -1] = 1.0  # dots at the corners, cut by the border
    assert torch.equal(_dilate(mask, size), F.max_pool2d(mask, size, stride=1, padding=size // 2))
