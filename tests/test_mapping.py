import pytest
import torch
import torch.nn.functional as F

from textssl.errors import UserError
from textssl.methods import MAPPINGS
from textssl.methods.mapping import map_instances, window_weights


@pytest.fixture
def ramp():
    return torch.arange(6, dtype=torch.float32).view(1, 6, 1)  # T = 6, D = 1, values 0..5


def test_all_is_the_mean(ramp):
    out, mask = map_instances(ramp, "all")
    assert out.shape == (1, 1, 1) and mask is None
    assert out.item() == pytest.approx(2.5)


def test_window_pools_neighbours(ramp):
    out, _ = map_instances(ramp, "window", windows=3)
    assert out.shape == (1, 3, 1)
    assert out.flatten().tolist() == pytest.approx([0.5, 2.5, 4.5])


def test_frame_is_identity(ramp):
    out, mask = map_instances(ramp, "frame")
    assert torch.equal(out, ramp) and mask is None


def test_shapes():
    seq = torch.randn(2, 25, 8)
    assert map_instances(seq, "all")[0].shape == (2, 1, 8)
    assert map_instances(seq, "frame")[0].shape == (2, 25, 8)
    assert map_instances(seq, "window")[0].shape == (2, 5, 8)
    assert map_instances(seq, "window", windows=4)[0].shape == (2, 4, 8)
    assert MAPPINGS == ("all", "frame", "window")


def test_window_keeps_gradient():
    seq = torch.randn(2, 10, 3, requires_grad=True)
    map_instances(seq, "window", windows=5)[0].sum().backward()
    assert torch.allclose(seq.grad, torch.ones_like(seq) / 2)


def test_content_lengths_leave_the_padding_frames_out(ramp):
    """An image whose content is its first 4 of 6 frames: the padding frames 4 and 5 count nowhere."""
    four = torch.tensor([4])
    assert map_instances(ramp, "all", lengths=four)[0].item() == pytest.approx(1.5)  # mean of 0..3
    assert map_instances(ramp, "window", windows=2, lengths=four)[0].flatten().tolist() == pytest.approx([0.5, 2.5])
    # 3 windows over 4 frames, as adaptive pooling: frames 0-1, 1-2, 2-3
    assert map_instances(ramp, "window", windows=3, lengths=four)[0].flatten().tolist() == pytest.approx(
        [0.5, 1.5, 2.5])
    frames, mask = map_instances(ramp, "frame", lengths=four)
    assert torch.equal(frames, ramp) and mask.tolist() == [[True, True, True, True, False, False]]


def test_window_weights_over_every_frame_are_adaptive_pooling():
    seq = torch.randn(3, 25, 4)
    for windows in (1, 4, 5, 7, 25):
        pooled = F.adaptive_avg_pool1d(seq.transpose(1, 2), windows).transpose(1, 2)
        weights = window_weights(torch.tensor([25, 25, 25]), 25, windows)
        assert torch.allclose(weights @ seq, pooled, atol=1e-6)
    # lengths below the windows: every window still averages at least one frame
    weights = window_weights(torch.tensor([2]), 6, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 5)) and (weights[..., 2:] == 0).all()


def test_errors(ramp):
    with pytest.raises(UserError, match="unknown instance mapping 'x': use all, frame or window"):
        map_instances(ramp, "x")
    with pytest.raises(UserError):
        map_instances(ramp, "window", windows=0)
