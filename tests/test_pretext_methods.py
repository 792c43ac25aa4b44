"""The pretext tasks and SimAN: each task's inputs and targets built on hand-made images, the adversarial
losses and SimAN's normalisation against hand values, both optimizers stepped and resumed, and a
pretrain -> fine-tune -> evaluate run of every method."""
import itertools
import json
import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from textssl.cli import main
from textssl.errors import UserError
from textssl.losses import discriminator_loss, generator_loss, weighted_pixel_loss
from textssl.methods import build_method
from textssl.methods.base import MethodBatch
from textssl.methods.colorization import LUMINANCE, grey
from textssl.methods.jigsaw import cut_tiles, max_hamming_permutations, stretched
from textssl.methods.patch_position import offset_of, pair_positions
from textssl.methods.rotation import turn_content, turn_squares
from textssl.methods.siman import instance_norm, similarity_aware_norm
from textssl.models.assembly import assemble
from textssl.models.recognizer import PretrainBackbone
from textssl.train.pretrain import PretrainConfig, load_checkpoint, pretrain

PRETEXT = ["rotation", "patch-position", "jigsaw", "colorization", "autoencoder", "inpainting", "siman"]


def backbone(channels=1, width=128):
    return PretrainBackbone(assemble(encoder="cnn", encoder_size=None, sequence="bilstm", shortcut=True, decoder=None,
                                     in_channels=channels, height=32, width=width))


def columns_image(b=1, c=1, h=4, w=8):
    """[b, c, h, w] whose pixel (y, x) holds 10 * y + x (+ 100 per channel)."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (10 * y + x).float().expand(b, c, h, w) + 100 * torch.arange(c).view(1, c, 1, 1)


def test_a_turned_line_is_its_content_rotated_by_180_degrees_with_the_padding_in_place():
    images = columns_image(2, 1, 4, 8)
    widths = torch.tensor([5, 8])
    out = turn_content(images, widths, torch.tensor([True, False]))
    assert torch.equal(out[1], images[1])
    for y, x in itertools.product(range(4), range(8)):
        expected = images[0, 0, 3 - y, 4 - x] if x < 5 else images[0, 0, y, x]
        assert out[0, 0, y, x] == expected


def test_rotation_turns_the_lines_before_their_views_and_its_targets_are_the_turns():
    from textssl.methods.base import ViewMaker

    method = build_method("rotation", backbone())
    images = torch.randint(0, 256, (16, 1, 32, 128), dtype=torch.uint8)
    widths = torch.randint(40, 129, (16,))
    batch = ViewMaker(method, "none", 1.0)(images, widths)
    (inputs, _), targets = method.task(batch)
    assert set(targets.tolist()) == {0, 1} and torch.equal(targets, batch.task)
    assert torch.equal(inputs, turn_content(images.float() / 255, widths, targets == 1))
    square = build_method("rotation", backbone(), method.Options(angles="0,90,180,270"))
    squares = columns_image(4, 1, 32, 32)  # content exactly one square wide: the crop is the image
    turned, square_widths, quarters = square.before_views(squares, torch.full((4,), 32))
    assert square_widths.tolist() == [32] * 4
    for i, k in enumerate(quarters.tolist()):
        assert torch.equal(turned[i], squares[i].rot90(k, (-2, -1)))
    assert torch.equal(turn_squares(squares, torch.full((4,), 32), torch.tensor([0, 1, 2, 3])),
                       torch.stack([squares[i].rot90(i, (-2, -1)) for i in range(4)]))


def test_permutation_sets_have_the_size_asked_and_the_largest_minimal_hamming_distance():
    def smallest_distance(perms):
        return min(int((a != b).sum()) for a, b in itertools.combinations(perms, 2))

    four = max_hamming_permutations(4, 4)
    assert four.shape == (4, 4) and smallest_distance(four) == 4  # rows of a Latin square: the most there is
    twelve = max_hamming_permutations(4, 12)  # the even permutations: no two closer than 3
    assert len({tuple(p) for p in twelve.tolist()}) == 12 and smallest_distance(twelve) == 3
    assert sorted(map(tuple, max_hamming_permutations(3, 6).tolist())) == list(itertools.permutations(range(3)))
    with pytest.raises(UserError, match="--permutations 7: 3 strips have only 6"):
        max_hamming_permutations(3, 7)


def test_jigsaw_shows_the_tiles_in_the_order_of_its_target_permutation():
    images = columns_image(3, 1, 32, 128)  # each column tells its tile apart
    tiles = cut_tiles(images, 4, 32)  # tiles as wide as the cells: no random offset
    assert torch.equal(tiles[:, 2], images[..., 64:96])
    half = torch.cat([images[:1, ..., :64], images[:1, ..., :64]], dim=-1)
    assert torch.allclose(stretched(half, torch.tensor([64]))[..., ::2], images[:1, ..., :64], atol=1.0)
    method = build_method("jigsaw", backbone(), None)
    method.options.gap = 0
    batch = MethodBatch([images], torch.full((3,), 128), None)
    shuffled, targets = method.task(batch, torch.Generator().manual_seed(2))
    for b in range(3):
        order = method.orders[targets[b]]
        assert torch.equal(shuffled[b], tiles[b, order])


def test_jigsaw_tiles_keep_half_the_gap_between_them():
    images = columns_image(200, 1, 32, 128)
    tiles = cut_tiles(images, 4, 24, torch.Generator().manual_seed(4))  # cells of 32: 8 spare columns
    first, last = tiles[:, :, 0, 0, 0], tiles[:, :, 0, 0, -1]  # the image column of each tile's edges
    assert ((first[:, 1:] - last[:, :-1] - 1) >= 4).all()  # at least half of the 8 columns between tiles
    assert (first - 32 * torch.arange(4) >= 2).all() and (first - 32 * torch.arange(4) <= 6).all()
    assert len(set(first[:, 0].tolist())) == 5  # the tile moves within its cell: 2 .. 6


def test_patch_position_classes_are_signed_offsets_and_the_patches_lie_where_they_say():
    assert offset_of(torch.arange(4), 2).tolist() == [-2, -1, 1, 2]
    widths = torch.randint(90, 129, (500,))
    classes = torch.randint(4, (500,))
    first, second = pair_positions(widths, classes, 128, 24, 30, 3, 2, torch.Generator().manual_seed(3))
    shift = second - first - offset_of(classes, 2) * 30
    assert shift.abs().max() <= 3 and shift.min() < 0 < shift.max()  # the jitter, both ways
    assert first.min() >= 0 and second.min() >= 0
    assert (first + 24 <= widths).all() and (second + 24 <= widths).all()  # inside each line's content
    method = build_method("patch-position", backbone())
    logits, _ = method.classify(method.task(MethodBatch([torch.rand(4, 1, 32, 128)], torch.full((4,), 128), None))[0])
    assert logits.shape == (4, 4)


def test_colorization_sees_the_luminance_of_its_target():
    method = build_method("colorization", backbone(channels=3))
    views = torch.rand(4, 3, 32, 128)
    inputs, output, target, weight, _ = method.generate(MethodBatch([views], torch.tensor([128, 100, 64, 9]), None))
    luminance = sum(w * views[:, i] for i, w in enumerate(LUMINANCE))
    assert torch.allclose(inputs, luminance.unsqueeze(1).expand(-1, 3, -1, -1), atol=1e-6)
    assert torch.equal(target, views) and output.shape == views.shape
    assert weight[2, 0, 0, :64].sum() == 64 and weight[2, 0, 0, 64:].sum() == 0  # padding is not scored
    assert torch.allclose(grey(torch.ones(1, 3, 2, 2)), torch.ones(1, 3, 2, 2))
    with pytest.raises(UserError, match="give --channels 3"):
        build_method("colorization", backbone(channels=1))


def test_siman_content_is_instance_normalised_and_the_style_comes_from_the_neighbour():
    content, style = torch.randn(2, 7, 16) * 3 + 5, torch.randn(2, 9, 16)
    restyled, normalised = similarity_aware_norm(content, style)
    assert torch.allclose(normalised.mean(1), torch.zeros(2, 16), atol=1e-5)
    assert torch.allclose(normalised.var(1, unbiased=False), torch.ones(2, 16), atol=1e-3)
    assert torch.equal(normalised, instance_norm(content))
    weights = torch.softmax(normalised @ instance_norm(style).transpose(1, 2) / 4.0, dim=-1)  # sqrt(16) = 4
    mean = weights @ style
    std = ((weights @ style.pow(2)) - mean.pow(2)).clamp_min(0).add(1e-5).sqrt()
    assert torch.allclose(restyled, std * normalised + mean, atol=1e-5)
    constant = torch.randn(1, 1, 16).expand(2, 9, 16)  # one style everywhere: its mean, no spread
    assert torch.allclose(similarity_aware_norm(content, constant)[0], constant[:, :7], atol=2e-2)


def test_adversarial_and_pixel_losses_against_hand_values():
    zero = torch.zeros(3, 1, 2, 2)
    assert discriminator_loss(zero, zero).item() == pytest.approx(math.log(4))
    assert generator_loss(zero).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert discriminator_loss(real, fake).item() == pytest.approx(softplus(-2) + softplus(-1), rel=1e-6)
    assert generator_loss(fake).item() == pytest.approx(softplus(1), rel=1e-6)
    prediction, target = torch.zeros(1, 2, 1, 2), torch.tensor([[[[1.0, 3.0]], [[2.0, 5.0]]]])
    weight = torch.tensor([[[[1.0, 0.0]]]])  # only the first pixel counts: errors 1 and 2 over the channels
    assert weighted_pixel_loss(prediction, target, weight, "mse").item() == pytest.approx((1 + 4) / 2)
    assert weighted_pixel_loss(prediction, target, weight, "l1").item() == pytest.approx((1 + 2) / 2)


class StopAt(Callback):
    """Raises before batch ``at``; keeps the optimizers' step counts at the start and the end."""

    def __init__(self, at=None):
        self.at, self.started, self.ended = at, None, None

    def steps(self, trainer):
        return [int(next(iter(o.state.values()))["step"]) if o.state else 0 for o in trainer.optimizers]

    def on_train_start(self, trainer, module):
        self.started = self.steps(trainer)

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError("killed")

    def on_train_end(self, trainer, module):
        self.ended = self.steps(trainer)


@pytest.mark.parametrize("method", ["inpainting", "siman"])
def test_adversarial_methods_step_both_optimizers_and_resume_both(method, tiny_data, tmp_path):
    def config(callback, resume=False):
        return PretrainConfig(data=[tiny_data["unlabeled"]], out=str(tmp_path / "pre"), method=method, max_steps=4,
                              batch_size=16, checkpoint_every=2, workers=0, progress=False, resume=resume,
                              extra_callbacks=[callback])

    with pytest.raises(RuntimeError, match="killed"):
        pretrain(config(StopAt(at=6)))  # two optimizer steps per batch: killed before batch 4, saved after 2
    saved = load_checkpoint(tmp_path / "pre" / "checkpoints" / "last.ckpt")
    assert len(saved["optimizer_states"]) == 2
    assert [next(iter(s["state"].values()))["step"] for s in saved["optimizer_states"]] == [2, 2]
    discriminator = {k: v for k, v in saved["state_dict"].items() if k.startswith("method.discriminator.")}
    assert discriminator
    resumed = StopAt()
    metrics = pretrain(config(resumed, resume=True))
    assert resumed.started == [2, 2] and resumed.ended == [4, 4] and metrics["steps"] == 4
    assert "reconstruction" in metrics and "loss_discriminator" in metrics
    final = load_checkpoint(tmp_path / "pre" / "checkpoints" / "last.ckpt")["state_dict"]
    assert any(not torch.equal(final[k], v) for k, v in discriminator.items())  # trained on after the resume


@pytest.mark.parametrize("method", PRETEXT)
def test_every_pretext_method_pretrains_and_a_recognizer_is_fine_tuned_from_it(method, tiny_data, tmp_path):
    pre, run = tmp_path / "pre", tmp_path / "run"
    channels = ["--channels", "3"] if method == "colorization" else []
    assert main(["pretrain", "--method", method, "--data", tiny_data["unlabeled"], "--out", str(pre), "--max-steps",
                 "2", "--batch-size", "16", "--workers", "0", "--checkpoint-every", "1", "--no-progress",
                 *channels]) == 0
    metrics = json.loads((pre / "metrics.json").read_text())
    assert metrics["steps"] == 2
    generative = method in ("colorization", "autoencoder", "inpainting", "siman")
    assert ("reconstruction" if generative else "task_accuracy") in metrics
    assert (pre / ("reconstructions.png" if generative else "pretext.png")).stat().st_size > 0
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run), "--init",
                 str(pre), "--max-steps", "2", "--batch-size", "16", "--no-progress", *channels]) == 0
    assert main(["evaluate", str(run), "--data", tiny_data["val"]]) == 0


@pytest.mark.parametrize("args, message", [
    (["--method", "colorization"], "error: --method colorization predicts colours: it needs RGB images, give "
                                   "--channels 3"),
    (["--method", "patch-position", "--offsets", "5"], "error: --offsets 5 with --patch-width 24 and --gap 6: a pair "
                                                       "needs 177 pixels, wider than the images' 128; give a smaller "
                                                       "--offsets or --patch-width"),
    (["--method", "patch-position", "--jitter", "6"], "error: --jitter 6: the patches would touch or overlap; give "
                                                      "less than --gap 6"),
    (["--method", "siman", "--features", "contextual"], "error: --method siman normalises the encoder's own features: "
                                                        "give --features visual"),
    (["--method", "jigsaw", "--strips", "7", "--gap", "16"], "error: --strips 7 with --gap 16: tiles narrower than "
                                                              "one frame at width 128; give fewer --strips or a smaller "
                                                              "--gap"),
])
def test_bad_pretext_options_are_one_error_line(args, message, tiny_data, tmp_path, capsys):
    assert main(["pretrain", *args, "--data", tiny_data["unlabeled"], "--out", str(tmp_path / "p"),
                 "--max-steps", "1", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]
    assert not (tmp_path / "p").exists()


def test_the_discriminator_and_the_rest_train_disjoint_parameters():
    method = build_method("inpainting", backbone())
    groups = method.parameter_groups()
    judge = {id(p) for g in groups["discriminator"] for p in g["params"]}
    rest = {id(p) for g in groups["main"] for p in g["params"]}
    assert judge == {id(p) for p in method.discriminator.parameters()} and not judge & rest
    assert judge | rest == {id(p) for p in method.parameters()}
    batch = MethodBatch([torch.rand(4, 1, 32, 128)], torch.full((4,), 128), None)
    losses = method.losses(batch)
    _, discriminator = next(losses)
    discriminator.backward()
    assert all(p.grad is None for p in method.backbone.parameters())  # the fake images were detached
    method.zero_grad()
    _, generator = next(losses)
    generator.backward()
    assert all(p.grad is not None for p in method.decoder.parameters())


def test_the_held_out_task_accuracy_counts_every_image():
    method = build_method("jigsaw", backbone())
    correct, total = method.accuracy(MethodBatch([torch.rand(10, 1, 32, 128)], torch.full((10,), 128), None))
    assert total == 10 and 0 <= correct <= 10


def test_the_preview_of_a_pretext_method_shows_what_its_encoder_is_given(tiny_data):
    from textssl.cli_data import method_views
    from textssl.data.dataset import ImageSpec, LmdbTextDataset, collate

    dataset = LmdbTextDataset(tiny_data["val"], ImageSpec())
    batch = collate([dataset[i] for i in range(3)])
    jigsaw = method_views("jigsaw", "captcha", 1.0, batch)
    assert [title for title, _ in jigsaw] == ["view: captcha", "task input"]
    assert jigsaw[1][1].shape == (3, 1, 32, 4 * (28 + 3))  # 4 tiles of (32 - 4) columns, 3 between them
    siman = method_views("siman", "captcha", 1.0, batch)
    assert [title for title, _ in siman] == ["view: style", "augmented patch | neighbour"]
    assert siman[1][1].shape == (3, 1, 32, 64 + 3 + 64)
