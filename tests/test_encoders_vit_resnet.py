import pytest
import torch

from textssl.errors import UserError
from textssl.models import ENCODER_SIZES
from textssl.models.assembly import assemble
from textssl.models.encoders.resnet import ResNetEncoder
from textssl.models.encoders.vit import ViTEncoder

SHAPES = [((32, 128), 32), ((32, 100), 25), ((48, 160), 40)]
ENCODERS = {"vit": lambda **size: ViTEncoder(**size, **ENCODER_SIZES["vit"]["micro"]),
            "resnet": lambda **size: ResNetEncoder(**size, **ENCODER_SIZES["resnet"]["small"])}


def _vit(in_channels=1, height=32, width=128):
    torch.manual_seed(0)
    return ENCODERS["vit"](in_channels=in_channels, height=height, width=width).eval()


def _patch_slice(model, n, width):
    """The pixel rows and columns of token n."""
    p_h, p_w = model.patch
    row, col = divmod(n, width // p_w)
    return slice(row * p_h, (row + 1) * p_h), slice(col * p_w, (col + 1) * p_w)


def _with_new_patch(model, images, n):
    rows, cols = _patch_slice(model, n, images.shape[-1])
    changed = images.clone()
    changed[:, :, rows, cols] = torch.rand_like(changed[:, :, rows, cols])
    return changed


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("size, frames", SHAPES)
def test_output_shape_and_frames(name, size, frames):
    height, width = size
    model = ENCODERS[name](in_channels=1, height=height, width=width)
    with torch.no_grad():
        out = model(torch.rand(2, 1, height, width))
    assert out.shape == (2, frames, model.dim)
    assert model.frames(width) == frames == width // model.width_stride


@pytest.mark.parametrize("name", ENCODERS)
def test_weights_of_another_dtype_take_float32_images(name):
    model = ENCODERS[name](in_channels=3, height=32, width=64).to(torch.bfloat16)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 64)).dtype == torch.bfloat16


@pytest.mark.parametrize("height, width, option", [(30, 128, "--height 30"), (32, 126, "--width 126")])
def test_vit_refuses_sizes_that_are_not_whole_patches(height, width, option):
    with pytest.raises(UserError, match=option):
        ENCODERS["vit"](in_channels=1, height=height, width=width)
    model = _vit()
    with pytest.raises(UserError, match=option):
        model.check_size(height, width)
    with pytest.raises(UserError, match=option):
        model(torch.rand(2, 1, height, width))


@pytest.mark.parametrize("height, width, option", [(24, 128, "--height 24"), (8, 128, "--height 8"),
                                                   (32, 126, "--width 126")])
def test_resnet_refuses_bad_sizes(height, width, option):
    with pytest.raises(UserError, match=option):
        ENCODERS["resnet"](in_channels=1, height=height, width=width)
    model = ENCODERS["resnet"](in_channels=1, height=32, width=128)
    with pytest.raises(UserError, match=option):
        model.check_size(height, width)
    with pytest.raises(UserError, match=option):
        model(torch.rand(2, 1, height, width))


@pytest.mark.parametrize("name, sizes", [("vit", "micro, tiny, small"), ("resnet", "small, base")])
def test_an_unknown_size_is_refused_by_name(name, sizes):
    with pytest.raises(UserError, match=f"--encoder-size huge: the {name} encoder comes in {sizes}"):
        assemble(encoder=name, encoder_size="huge")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("height, width", [(32, 128), (32, 100)])
def test_patchify_round_trip_and_token_order(channels, height, width):
    model = _vit(channels, height, width)
    images = torch.rand(2, channels, height, width)
    patches = model.patchify(images)
    gh, gw = model.grid(height, width)
    assert (gh, gw) == (height // 4, width // 4)
    assert patches.shape == (2, gh * gw, 4 * 4 * channels)
    assert torch.equal(model.unpatchify(patches, height, width), images)
    for n in (0, 1, gw - 1, gw, gh * gw - 1):
        rows, cols = _patch_slice(model, n, width)
        block = images[:, :, rows, cols].permute(0, 2, 3, 1).flatten(1)  # (p_h, p_w, C) order
        assert torch.equal(patches[:, n], block)


def test_masked_tokens_ignore_their_pixels():
    model = _vit()
    images = torch.rand(2, 1, 32, 128)
    gh, gw = model.grid(32, 128)
    masked, visible = 37, 38
    mask = torch.zeros(2, gh * gw, dtype=torch.bool)
    mask[:, [masked, 3, 100, 200]] = True
    with torch.no_grad():
        out = model.tokens(images, mask)
        assert out.shape == (2, gh * gw, model.dim)
        torch.testing.assert_close(model.tokens(_with_new_patch(model, images, masked), mask), out, rtol=0, atol=1e-6)
        assert (model.tokens(_with_new_patch(model, images, visible), mask) - out).abs().max() > 1e-3
        assert (model.tokens(images) - out).abs().max() > 1e-3  # the mask token is not the masked patch


def test_visible_tokens_depend_only_on_the_kept_patches():
    model = _vit()
    images = torch.rand(2, 1, 32, 128)
    gh, gw = model.grid(32, 128)
    keep = torch.stack([torch.randperm(gh * gw)[:64] for _ in range(2)])
    dropped = next(n for n in range(gh * gw) if n not in keep)
    with torch.no_grad():
        out = model.visible_tokens(images, keep)
        assert out.shape == (2, 64, model.dim)
        changed = model.visible_tokens(_with_new_patch(model, images, dropped), keep)
        torch.testing.assert_close(changed, out, rtol=0, atol=1e-6)
        kept = int(keep[0, 0])
        assert (model.visible_tokens(_with_new_patch(model, images, kept), keep) - out).abs().max() > 1e-3


def test_vit_interpolates_its_position_embedding_to_another_width():
    model = _vit(height=32, width=128)
    with torch.no_grad():
        out = model(torch.rand(2, 1, 32, 100))
    assert out.shape == (2, 25, model.dim)
    assert model.pos_embed.shape == (1, model.dim, 8, 32)


def _assert_every_parameter_has_a_gradient(model, skip=()):
    missing = [name for name, p in model.named_parameters()
               if name not in skip and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not missing


def test_gradients_reach_every_vit_parameter():
    model = _vit().train()
    images = torch.rand(2, 1, 32, 128)
    model(images).sum().backward()
    _assert_every_parameter_has_a_gradient(model, skip={"mask_token"})
    assert model.mask_token.grad is None
    mask = torch.rand(2, model.grid(32, 128)[0] * model.grid(32, 128)[1]) < 0.5
    model.tokens(images, mask).sum().backward()
    _assert_every_parameter_has_a_gradient(model)


def test_gradients_reach_every_resnet_parameter():
    torch.manual_seed(0)
    model = ENCODERS["resnet"](in_channels=3, height=32, width=128).train()
    model(torch.rand(2, 3, 32, 128)).sum().backward()
    _assert_every_parameter_has_a_gradient(model)
