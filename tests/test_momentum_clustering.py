"""MoCo, BYOL and SwAV: their losses and updates against values computed by hand, the queue's
enqueue / wrap / dequeue, instance alignment with sequence mappings, and MoCo's queue across --resume."""
import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from textssl.errors import UserError
from textssl.losses import moco_logits, moco_loss, normalized_mse, query_key_info_nce, sinkhorn, swapped_prediction
from textssl.methods import build_method, method_class
from textssl.methods.base import MethodBatch
from textssl.methods.momentum import KeyQueue, cosine_momentum, ema_update
from textssl.methods.simclr import hardest_negatives, pair_loss
from textssl.methods.swav import width_crops
from textssl.models.assembly import assemble
from textssl.models.recognizer import PretrainBackbone
from textssl.train.pretrain import PretrainConfig, load_checkpoint, pretrain


def test_moco_logits_put_the_positive_first_then_the_queue():
    q = torch.tensor([[2.0, 0.0]])                # unit after normalisation: e1
    k = torch.tensor([[3.0, 4.0]])                # (0.6, 0.8)
    queue = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    logits = moco_logits(q, k, queue, temperature=0.5)
    assert torch.allclose(logits, torch.tensor([[0.6 / 0.5, 1.0 / 0.5, 0.0]]))
    expected = -math.log(math.exp(1.2) / (math.exp(1.2) + math.exp(2.0) + 1.0))
    assert moco_loss(q, k, queue, 0.5).item() == pytest.approx(expected, abs=1e-6)


def test_moco_v3_loss_by_hand_with_the_offset_of_this_process():
    q = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[0.0, 1.0], [0.6, 0.8]])  # this process's key is row 1 (the other process's is row 0)
    t = 0.2
    expected = -math.log(math.exp(0.6 / t) / (math.exp(0.0) + math.exp(0.6 / t))) * 2 * t
    assert query_key_info_nce(q, keys, t, offset=1).item() == pytest.approx(expected, abs=1e-6)


def test_momentum_update_and_cosine_schedule():
    target, online = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    target.weight.data.fill_(1.0)
    online.weight.data.fill_(3.0)
    ema_update(target, online, 0.9)
    assert target.weight.item() == pytest.approx(0.9 * 1.0 + 0.1 * 3.0)
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_momentum(25, 100, 0.99) == pytest.approx(1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2)
    assert cosine_momentum(100, 100, 0.996) == pytest.approx(1.0)


def test_byol_loss_by_hand_and_no_gradient_to_the_target():
    p = torch.tensor([[2.0, 0.0], [0.0, 1.0]], requires_grad=True)
    z = torch.tensor([[3.0, 4.0], [0.0, 2.0]], requires_grad=True)
    loss = normalized_mse(p, z)
    assert loss.item() == pytest.approx(((2 - 2 * 0.6) + (2 - 2 * 1.0)) / 2)
    loss.backward()
    assert z.grad is None and p.grad is not None


def test_sinkhorn_by_hand_for_one_iteration():
    scores = torch.log(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # exp(scores / 1) = [[1, 2], [3, 4]]
    codes = sinkhorn(scores, epsilon=1.0, iterations=1)
    assert torch.allclose(codes, torch.tensor([[3 / 7, 4 / 7], [9 / 17, 8 / 17]]), atol=1e-6)


def test_sinkhorn_gives_the_uniform_marginals():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(12, 8), dim=1)
    prototypes = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    codes = sinkhorn(z @ prototypes.T, epsilon=0.05, iterations=3)
    assert torch.allclose(codes.sum(1), torch.ones(12), atol=1e-4)  # it ends with the samples: exact
    converged = sinkhorn(z @ prototypes.T, epsilon=0.05, iterations=200)
    assert torch.allclose(converged.sum(1), torch.ones(12), atol=1e-4)
    assert torch.allclose(converged.sum(0), torch.full((4,), 12 / 4), atol=1e-4)  # equal partition


def test_swapped_prediction_by_hand_with_a_small_crop():
    full1 = torch.tensor([[0.0, math.log(3.0)]])  # softmax (1/4, 3/4)
    full2 = torch.tensor([[0.0, 0.0]])            # (1/2, 1/2)
    crop = torch.tensor([[math.log(3.0), 0.0]])   # (3/4, 1/4)
    c1, c2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]])
    two_views = (math.log(2) - (0.5 * math.log(0.25) + 0.5 * math.log(0.75))) / 2
    assert swapped_prediction([full1, full2], [c1, c2], temperature=1.0).item() == pytest.approx(two_views)
    code1 = (math.log(2) - math.log(0.75)) / 2                                        # views 2 and the crop
    code2 = (-(0.5 * math.log(0.25) + 0.5 * math.log(0.75)) * 2) / 2                  # view 1 and the crop
    assert swapped_prediction([full1, full2, crop], [c1, c2], 1.0).item() == pytest.approx((code1 + code2) / 2)


def test_queue_enqueues_wraps_and_dequeues_the_oldest_with_a_batch_that_does_not_divide_it():
    queue = KeyQueue(5, 1)
    keys = lambda *values: torch.tensor(values, dtype=torch.float).view(-1, 1)  # noqa: E731
    queue.push(keys(1, 2, 3))
    assert len(queue) == 3 and queue.stored().flatten().tolist() == [1, 2, 3]
    queue.push(keys(4, 5, 6))  # wraps: 6 overwrites the oldest, 1
    assert queue.keys.flatten().tolist() == [6, 2, 3, 4, 5] and int(queue.pointer) == 1 and len(queue) == 5
    queue.push(keys(7, 8, 9))  # 2, 3 and 4 leave
    assert queue.keys.flatten().tolist() == [6, 7, 8, 9, 5] and int(queue.pointer) == 4
    queue.push(keys(*range(10, 17)))  # more than it holds: the last five
    assert sorted(queue.keys.flatten().tolist()) == [12, 13, 14, 15, 16]
    assert set(dict(queue.named_buffers())) == {"keys", "pointer", "filled"}  # in the checkpoint


def backbone(encoder="cnn"):
    size = {"vit": "micro"}.get(encoder)
    return PretrainBackbone(assemble(encoder=encoder, encoder_size=size, sequence="bilstm", shortcut=True,
                                     decoder=None, in_channels=1, height=32, width=128))


def test_moco_queue_holds_every_window_of_every_image_as_a_key():
    options = method_class("moco-v2").Options(mapping="window", windows=5, queue_size=64)
    moco = build_method("moco-v2", backbone(), options)
    pointer = int(moco.queue.pointer)
    views = [torch.rand(4, 1, 32, 128) for _ in range(2)]
    loss, queries = moco(MethodBatch(views, torch.full((4,), 128), None))
    assert queries.shape == (20, 128) and int(moco.queue.pointer) == pointer + 20
    with torch.no_grad():
        keys = torch.nn.functional.normalize(moco.keys(views[1], torch.full((4,), 128)), dim=1)
    assert torch.allclose(moco.queue.keys[:20], keys, atol=1e-5)  # window j of image i: key 5 i + j


def test_momentum_encoders_start_equal_follow_by_ema_and_are_not_optimized():
    byol = build_method("byol", backbone())
    trained = {id(p) for group in byol.parameter_groups()["main"] for p in group["params"]}
    assert not any(id(p) in trained for p in byol.target_backbone.parameters())
    online, target = next(byol.backbone.parameters()), next(byol.target_backbone.parameters())
    assert torch.equal(online, target)
    before = target.detach().clone()
    with torch.no_grad():
        online.add_(1.0)
    byol.after_step(0, 10)  # tau = 0.996 at step 0
    assert torch.allclose(target, 0.996 * before + 0.004 * online.detach(), atol=1e-6)


def test_swav_normalises_freezes_its_prototypes_and_refuses_crops_with_a_sequence_mapping():
    options = method_class("swav").Options(freeze_prototypes=1, prototypes=16, crops=2)
    swav = build_method("swav", backbone(), options)
    assert len(swav.views) == 4
    views = [torch.rand(4, 1, 32, 128) for _ in swav.views]
    swav(MethodBatch(views, torch.full((4,), 128), None))[0].backward()
    assert not swav.prototypes.weight.grad.any()  # frozen in its first step
    swav.after_step(1, 10)
    assert torch.allclose(swav.prototypes.weight.norm(dim=1), torch.ones(16))
    swav(MethodBatch(views, torch.full((4,), 128), None))[0].backward()
    assert swav.prototypes.weight.grad.any()
    with pytest.raises(UserError, match="--crops 2 needs --mapping all.*give --crops 0"):
        build_method("swav", backbone(), method_class("swav").Options(mapping="window"))


def test_width_crops_stay_inside_the_content():
    images = torch.zeros(3, 1, 4, 64)
    widths = torch.tensor([64, 32, 16])
    for i, w in enumerate(widths):
        images[i, :, :, :w] = 1.0  # content 1, padding 0
    assert torch.allclose(width_crops(images[:1], widths[:1], 1.0, 64), images[:1])  # the whole line: itself
    crops = width_crops(images, widths, 0.5, 32)
    assert crops.shape == (3, 1, 4, 32) and bool((crops > 0.99).all())


def test_hardest_negative_is_the_nearest_other_row():
    a = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    b = torch.tensor([[0.0, 0.0], [1.0, 0.0], [9.0, 9.0]])
    # row 0: b1 (1) before b2; row 1: b2 (9.06) before b0 (10); row 2: b0 (10) before b1 (10.05)
    assert hardest_negatives(a, b).tolist() == [[1.0, 0.0], [9.0, 9.0], [0.0, 0.0]]


@pytest.mark.parametrize("loss", ["info-nce", "triplet", "n-pair", "margin"])
def test_every_pair_loss_trains_the_projections(loss):
    a, b = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    value = pair_loss(loss, a, b, temperature=0.1, margin=0.5)
    value.backward()
    assert value.item() > 0 and a.grad.abs().sum() > 0


class StopAt(Callback):
    """Records the method's queue after each step; raises before step ``at``."""

    def __init__(self, at=None):
        self.at, self.queues, self.started = at, {}, None

    def on_train_start(self, trainer, module):
        self.started = {k: v.clone() for k, v in module.method.queue.state_dict().items()}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError("killed")

    def on_train_batch_end(self, trainer, module, *args):
        self.queues[trainer.global_step] = module.method.queue.keys.clone()


def test_resume_restores_moco_queue_bit_for_bit(tiny_data, tmp_path):
    def config(callback, resume=False):
        return PretrainConfig(data=[tiny_data["unlabeled"]], out=str(tmp_path / "pre"), method="moco-v2",
                              method_options={"queue_size": 100}, max_steps=5, batch_size=24, checkpoint_every=2,
                              workers=0, progress=False, resume=resume, extra_callbacks=[callback])

    first = StopAt(at=3)  # the last checkpoint is the one of step 2
    with pytest.raises(RuntimeError, match="killed"):
        pretrain(config(first))
    saved = load_checkpoint(tmp_path / "pre" / "checkpoints" / "last.ckpt")["state_dict"]
    assert torch.equal(saved["method.queue.keys"], first.queues[2])
    resumed = StopAt()
    pretrain(config(resumed, resume=True))
    assert torch.equal(resumed.started["keys"], first.queues[2])
    assert int(resumed.started["pointer"]) == (2 * 24) % 100 and int(resumed.started["filled"]) == 100
    assert sorted(resumed.queues) == [3, 4, 5]
