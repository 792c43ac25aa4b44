import pytest
import torch

from textssl.errors import UserError
from textssl.methods.mapping import MAPPINGS, map_instances


@pytest.fixture
def ramp():
    return torch.arange(6, dtype=torch.float32).view(1, 6, 1)  # T = 6, D = 1, values 0..5


def test_all_is_the_mean(ramp):
    out = map_instances(ramp, "all")
    assert out.shape == (1, 1, 1)
    assert out.item() == pytest.approx(2.5)


def test_window_pools_neighbours(ramp):
    out = map_instances(ramp, "window", windows=3)
    assert out.shape == (1, 3, 1)
    assert out.flatten().tolist() == pytest.approx([0.5, 2.5, 4.5])


def test_frame_is_identity(ramp):
    assert torch.equal(map_instances(ramp, "frame"), ramp)


def test_shapes():
    seq = torch.randn(2, 25, 8)
    assert map_instances(seq, "all").shape == (2, 1, 8)
    assert map_instances(seq, "frame").shape == (2, 25, 8)
    assert map_instances(seq, "window").shape == (2, 5, 8)
    assert map_instances(seq, "window", windows=4).shape == (2, 4, 8)
    assert MAPPINGS == ("all", "frame", "window")


def test_window_keeps_gradient():
    seq = torch.randn(2, 10, 3, requires_grad=True)
    map_instances(seq, "window", windows=5).sum().backward()
    assert torch.allclose(seq.grad, torch.ones_like(seq) / 2)


def test_errors(ramp):
    with pytest.raises(UserError, match="unknown instance mapping 'x': use all, frame or window"):
        map_instances(ramp, "x")
    with pytest.raises(UserError):
        map_instances(ramp, "window", windows=0)
