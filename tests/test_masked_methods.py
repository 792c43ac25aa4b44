"""Masked image modelling: patch grids, masks, the reconstruction losses and MAE / SimMIM / DiG."""
import json

import pytest
import torch

from textssl.augment.masks import patch_mask, valid_columns, visible_indices
from textssl.cli import main
from textssl.losses import masked_patch_loss, normalized_patches
from textssl.methods import build_method
from textssl.methods.base import MethodBatch
from textssl.models.assembly import assemble
from textssl.models.encoders.vit import ViTEncoder
from textssl.models.recognizer import PretrainBackbone


def vit_backbone(width=128):
    torch.manual_seed(0)
    return PretrainBackbone(assemble(encoder="vit", encoder_size="micro", decoder=None, height=32, width=width))


@pytest.mark.parametrize("width", [128, 100])
def test_patchify_and_unpatchify_are_inverse_and_patches_are_row_major(width):
    encoder = ViTEncoder(height=32, width=width, depth=1, dim=16, heads=2)
    images = torch.rand(2, 1, 32, width)
    patches = encoder.patchify(images)
    assert patches.shape == (2, 8 * width // 4, 16)
    assert torch.equal(encoder.unpatchify(patches, 32, width), images)
    gw = width // 4
    assert torch.equal(patches[1, 2 * gw + 3], images[1, 0, 8:12, 12:16].flatten())  # row 2, column 3


@pytest.mark.parametrize("kind", ["random", "block", "column"])
@pytest.mark.parametrize("ratio", [0.3, 0.75])
def test_each_mask_has_the_ratio_and_shape_and_masks_content_only(kind, ratio):
    grid, valid = (8, 32), torch.tensor([32, 20, 7, 32])
    mask = patch_mask(kind, grid, ratio, valid, torch.Generator().manual_seed(3))
    assert mask.shape == (4, 256) and mask.dtype == torch.bool
    per_image = mask.view(4, 8, 32)
    for b, columns in enumerate(valid.tolist()):
        content = 8 * columns
        tolerance = 8 if kind == "column" else 1  # whole columns: within one column
        assert abs(int(per_image[b].sum()) - ratio * content) <= tolerance
        assert not per_image[b, :, columns:].any()  # padding is never masked, so never a target
    if kind == "column":
        assert (per_image.all(1) | ~per_image.any(1)).all()  # each column masked whole or not at all


@pytest.mark.parametrize("kind", ["random", "block", "column"])
def test_the_same_seed_gives_the_same_mask(kind):
    valid = torch.tensor([32, 16])

    def draw(seed):
        return patch_mask(kind, (8, 32), 0.6, valid, torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))


def test_block_masks_are_blockier_than_random_ones():
    valid = torch.full((64,), 32)

    def neighbours(kind):  # masked horizontal neighbour pairs per masked patch
        m = patch_mask(kind, (8, 32), 0.4, valid, torch.Generator().manual_seed(0)).view(64, 8, 32)
        return float((m[..., 1:] & m[..., :-1]).sum() / m.sum())

    assert neighbours("block") > neighbours("random") + 0.15


def test_visible_indices_keep_unmasked_content_and_fill_up_with_padding():
    content = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    mask = torch.tensor([[1, 0, 0, 1, 0, 1], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    keep = visible_indices(mask, content)
    assert keep.shape == (2, 3)
    assert keep[0].tolist() == [1, 2, 4]
    assert set(keep[1].tolist()[:2]) | {0, 2} == {0, 2} and keep[1, 2] >= 3  # its 2 visible and 1 padding patch


def test_masked_patch_loss_against_hand_values():
    prediction = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [3.0, 3.0]]])
    target = torch.tensor([[[0.0, 0.0], [5.0, 5.0], [1.0, 2.0]]])
    mask = torch.tensor([[True, False, True]])
    # masked patches 0 and 2: squared errors (1 + 4) / 2 = 2.5 and (4 + 1) / 2 = 2.5; absolute 1.5 and 1.5
    assert masked_patch_loss(prediction, target, mask, "mse").item() == pytest.approx(2.5)
    assert masked_patch_loss(prediction, target, mask, "l1").item() == pytest.approx(1.5)
    assert masked_patch_loss(prediction, target, torch.zeros_like(mask), "mse").item() == 0.0
    normalized = normalized_patches(torch.tensor([[[1.0, 3.0]]]))
    assert normalized.flatten().tolist() == pytest.approx([-1.0, 1.0], abs=1e-5)


def batch_for(method, widths=(128, 128, 96, 64)):
    torch.manual_seed(1)
    raw = torch.rand(len(widths), 1, 32, 128)
    return MethodBatch([torch.rand_like(raw) for _ in method.views], torch.tensor(widths), raw)


@pytest.mark.parametrize("name", ["mae", "simmim"])
def test_the_loss_changes_only_with_predictions_of_masked_patches(name):
    method = build_method(name, vit_backbone())
    batch = batch_for(method)
    masks = []
    original = method.draw_mask
    method.draw_mask = lambda *a, **k: masks.append(original(*a, **k)) or masks[-1]

    def loss_with(change=None):
        handle = method.pixel_head.register_forward_hook(lambda m, i, out: change(out) if change else None)
        torch.manual_seed(5)
        loss = method(batch)[0].item()
        handle.remove()
        return loss

    base = loss_with()
    mask = masks[-1][0]
    b, visible = 2, int((~mask[2] & masks[-1][1][2]).nonzero()[0])
    masked = int(mask[b].nonzero()[0])

    def bump(index):
        def change(out):
            out = out.clone()
            out[b, index] += 3.0
            return out
        return change

    assert loss_with(bump(visible)) == pytest.approx(base, abs=1e-7)
    padding = 8 * 32 - 1  # the last patch of a 96-pixel-wide image is padding
    assert loss_with(bump(padding)) == pytest.approx(base, abs=1e-7)
    assert abs(loss_with(bump(masked)) - base) > 1e-4


def test_mae_encodes_exactly_the_visible_patches():
    method = build_method("mae", vit_backbone())
    encoder = method.backbone.encoder
    batch = batch_for(method, widths=(128, 128, 128, 128))
    seen = {}
    encoder.blocks[0].register_forward_pre_hook(lambda m, args: seen.setdefault("tokens", args[0]))
    torch.manual_seed(5)
    mask, content = method.draw_mask(batch.raw, batch.widths)
    torch.manual_seed(5)
    method(batch)
    keep = visible_indices(mask, content)
    assert keep.shape == (4, 256 - 192)  # 0.75 of the 256 patches masked
    assert not mask.gather(1, keep).any()
    embedded = encoder._embed(batch.raw)[0]
    expected = embedded.gather(1, keep.unsqueeze(-1).expand(-1, -1, embedded.shape[-1]))
    assert torch.allclose(seen["tokens"], expected)


def test_dig_loss_is_the_weighted_sum_of_its_branches():
    method = build_method("dig", vit_backbone())
    batch = batch_for(method)
    torch.manual_seed(7)
    pixel, _ = method.pixels(MethodBatch([], batch.widths, batch.raw))
    contrastive, _ = method.contrast(batch)
    torch.manual_seed(7)
    total, embeddings = method(batch)
    assert total.item() == pytest.approx(1.0 * pixel.item() + 0.1 * contrastive.item(), rel=1e-6)
    assert embeddings.shape == (4 * 4, 128)  # 4 windows of each image: DiG's patch-wise instances
    assert method.pixels.backbone is method.contrast.backbone is method.backbone


def test_a_masking_method_on_the_cnn_is_one_error_line(tiny_data, tmp_path, capsys):
    assert main(["pretrain", "--method", "mae", "--data", tiny_data["unlabeled"], "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --method mae masks patches: it needs --encoder vit, not --encoder cnn"]
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("method", ["mae", "simmim", "dig"])
def test_masked_methods_pretrain_and_a_recognizer_is_fine_tuned_from_them(method, tiny_data, tmp_path):
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert main(["pretrain", "--method", method, "--encoder", "vit", "--encoder-size", "micro", "--data",
                 tiny_data["unlabeled"], "--out", str(pre), "--max-steps", "2", "--batch-size", "8", "--workers", "0",
                 "--no-progress"]) == 0
    assert json.loads((pre / "metrics.json").read_text())["steps"] == 2
    assert (pre / "reconstructions.png").stat().st_size > 0
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run), "--init",
                 str(pre), "--max-steps", "2", "--batch-size", "8", "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--data", tiny_data["val"]]) == 0


def test_preview_of_a_masking_method_shows_its_masks(tiny_data, tmp_path):
    from textssl.cli_data import method_views as _method_views
    from textssl.data.dataset import ImageSpec, LmdbTextDataset, collate

    dataset = LmdbTextDataset(tiny_data["val"], ImageSpec())
    batch = collate([dataset[i] for i in range(3)])
    views = _method_views("simmim", "captcha", 1.0, batch)
    assert [title for title, _ in views] == ["original", "block mask, 0.6"]
    masked = views[1][1]
    assert masked.shape == (3, 1, 32, 128) and (masked == 0.5).float().mean() > 0.4  # grey where masked
    dig = [title for title, _ in _method_views("dig", "captcha", 1.0, batch)]
    assert dig == ["view 1: captcha", "view 2: captcha", "original", "random mask, 0.7"]


def test_valid_columns_count_partly_covered_columns():
    assert valid_columns(torch.tensor([128, 97, 3, 400]), 4, 32).tolist() == [32, 25, 1, 32]
