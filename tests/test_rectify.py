import math

import pytest
import torch
import torch.nn.functional as F

from textssl.errors import UserError
from textssl.models.rectify import FIDUCIAL_EXTENT, TPSRectifier, base_fiducials, tps_matrices


def _smooth_images(batch: int, channels: int, height: int, width: int) -> torch.Tensor:
    y = torch.linspace(0, 1, height).view(1, 1, height, 1)
    x = torch.linspace(0, 1, width).view(1, 1, 1, width)
    phase = torch.arange(batch * channels, dtype=torch.float32).view(batch, channels, 1, 1)
    return 0.5 + 0.25 * torch.sin(2 * math.pi * x + phase) * torch.cos(math.pi * y + 0.5 * phase)


def _set_control_points(rectifier: TPSRectifier, control: torch.Tensor) -> None:
    """Makes the localization network predict `control` [F, 2] for every image."""
    with torch.no_grad():
        rectifier.localization[-1].bias.copy_(torch.atanh(control).reshape(-1))


@pytest.mark.parametrize("height, width", [(32, 100), (32, 128)])
@pytest.mark.parametrize("channels", [1, 3])
def test_untrained_rectifier_is_the_identity(height, width, channels):
    torch.manual_seed(0)
    rectifier = TPSRectifier(channels, height, width)
    random = torch.rand(2, channels, height, width)
    smooth = _smooth_images(2, channels, height, width)
    for images in (random, smooth):
        out = rectifier(images)
        assert out.shape == images.shape
        # grid_sample's own identity (affine_grid with the identity) is off by up to ~7e-6 for width 100
        assert (out - images).abs().max() < 1e-5
    rectifier.eval()
    assert (rectifier(random) - random).abs().max() < 1e-5


def test_base_fiducials_lie_on_the_top_and_bottom_lines_evenly_spaced():
    base = base_fiducials(20)
    assert base.shape == (20, 2)
    top, bottom = base[:10], base[10:]
    assert torch.all(top[:, 1] == -FIDUCIAL_EXTENT) and torch.all(bottom[:, 1] == FIDUCIAL_EXTENT)
    expected_x = torch.linspace(-FIDUCIAL_EXTENT, FIDUCIAL_EXTENT, 10, dtype=base.dtype)
    assert torch.allclose(top[:, 0], expected_x) and torch.allclose(bottom[:, 0], expected_x)
    assert torch.allclose(torch.diff(top[:, 0]), torch.full((9,), 2 * FIDUCIAL_EXTENT / 9, dtype=base.dtype))
    rectifier = TPSRectifier(1, 32, 100)
    assert torch.allclose(rectifier.control_points(torch.rand(2, 1, 32, 100)), base.float().expand(2, 20, 2),
                          atol=1e-6)
    with pytest.raises(UserError, match="even number"):
        base_fiducials(7)


def test_tps_matrices_reproduce_the_output_grid_for_the_base_fiducials():
    base = base_fiducials(20)
    delta_c_inv, p_hat = tps_matrices(base, 32, 100)
    assert delta_c_inv.shape == (23, 23) and p_hat.shape == (32 * 100, 23)
    grid = p_hat @ delta_c_inv @ torch.cat([base, torch.zeros(3, 2, dtype=base.dtype)])
    identity = F.affine_grid(torch.eye(2, 3, dtype=base.dtype)[None], (1, 1, 32, 100), align_corners=False)
    assert torch.allclose(grid.view(1, 32, 100, 2), identity, atol=1e-10)
    names = {name for name, _ in TPSRectifier(1, 32, 100).named_buffers()}
    assert {"delta_c_inv", "p_hat"} <= names


@pytest.mark.parametrize("theta", [
    [[0.5, 0.0, 0.0], [0.0, 1.0, 0.0]],  # the central half of the width, stretched
    [[0.8, 0.2, 0.05], [0.0, 0.9, -0.05]],  # a shear, a shrink and a shift
])
def test_affine_control_points_give_that_affine_warp(theta):
    torch.manual_seed(0)
    rectifier = TPSRectifier(3, 32, 100)
    theta = torch.tensor(theta)
    base = base_fiducials(20).float()
    _set_control_points(rectifier, base @ theta[:, :2].T + theta[:, 2])
    images = torch.rand(2, 3, 32, 100)
    grid = F.affine_grid(theta.expand(2, 2, 3), images.shape, align_corners=False)
    expected = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = rectifier(images)
    assert (out - expected).abs().max() < 1e-4
    assert (out - images).abs().max() > 0.1


def test_gradients_reach_the_localization_network():
    torch.manual_seed(0)
    rectifier = TPSRectifier(1, 32, 100)
    images = _smooth_images(2, 1, 32, 100)
    rectifier(images).square().mean().backward()
    last = rectifier.localization[-1]
    assert last.bias.grad.abs().sum() > 0 and last.weight.grad.abs().sum() > 0
    rectifier.zero_grad()
    with torch.no_grad():
        last.weight.normal_(0, 0.01)  # the zero initialisation blocks gradients below the last layer
    rectifier(images).square().mean().backward()
    for name, parameter in rectifier.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_input_dtype_is_cast_to_the_weights():
    rectifier = TPSRectifier(1, 32, 100)
    images = torch.rand(2, 1, 32, 100, dtype=torch.float64)
    out = rectifier(images)
    assert out.dtype == torch.float32
    assert (out.double() - images).abs().max() < 1e-5


@pytest.mark.parametrize("shape, option", [((2, 1, 32, 128), "--width"), ((2, 1, 48, 100), "--height")])
def test_wrong_image_size_raises_user_error(shape, option):
    rectifier = TPSRectifier(1, 32, 100)
    with pytest.raises(UserError, match=option) as error:
        rectifier(torch.rand(*shape))
    assert "\n" not in str(error.value)
