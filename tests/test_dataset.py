"""Reading labeled LMDBs for training: bad rows are skipped with one warning line naming the key."""
import io
import logging

import pytest
import torch
from PIL import Image

import textssl.data.dataset as dataset_module
from textssl.cli import main
from textssl.data.charset import Charset
from textssl.models.decoders.ctc import CTCDecoder
from textssl.data.dataset import ImageSpec, LmdbTextDataset, make_loader, to_tensor
from textssl.data.lmdb_io import LmdbReader, write_lmdb
from textssl.errors import UserError

CHARSET = Charset.from_spec("captcha")


def _png(width: int, height: int, value: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), value).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def mixed_lmdb(tmp_path):
    rows = [(_png(64, 16), "AB12"), (_png(64, 16), ""), (_png(64, 16), "ab#"),
            (b"\x89PNG\r\n\x1a\n broken", "CD34"), (_png(64, 16), "XY9")]
    write_lmdb(tmp_path / "mixed", rows)
    return str(tmp_path / "mixed")


def test_empty_and_out_of_charset_labels_are_skipped_with_a_warning(mixed_lmdb, caplog):
    with caplog.at_level(logging.WARNING, logger="textssl"):
        dataset = LmdbTextDataset(mixed_lmdb, ImageSpec(), charset=CHARSET, labeled=True)
    assert dataset.labels == ["AB12", "CD34", "XY9"]
    (message,) = [r.getMessage() for r in caplog.records]
    assert mixed_lmdb in message and "skipped 2" in message and "label-000000002" in message


def test_labels_the_recognizer_cannot_emit_are_skipped(tmp_path, caplog):
    write_lmdb(tmp_path / "db", [(_png(64, 16), "AB12"), (_png(64, 16), "AAA")])
    misfit = CTCDecoder(CHARSET, 8).misfit
    with caplog.at_level(logging.WARNING, logger="textssl"):
        dataset = LmdbTextDataset(str(tmp_path / "db"), ImageSpec(), charset=CHARSET, labeled=True,
                                  misfit=lambda text: misfit(text, 4))
    assert dataset.labels == ["AB12"]
    assert "needs 5 CTC frames, the model has 4" in caplog.text


def test_corrupt_image_is_skipped_with_its_key(mixed_lmdb, caplog):
    dataset = LmdbTextDataset(mixed_lmdb, ImageSpec(), charset=CHARSET, labeled=True, allow_skipped=True)
    with caplog.at_level(logging.WARNING, logger="textssl"):
        batches = list(make_loader(dataset, 8, shuffle=False, workers=0))
    assert [label for batch in batches for label in batch.labels] == ["AB12", "XY9"]
    assert any("image-000000004" in r.getMessage() for r in caplog.records)


def test_corrupt_image_is_reported_once_however_often_it_is_read(mixed_lmdb, caplog):
    dataset = LmdbTextDataset(mixed_lmdb, ImageSpec(), charset=CHARSET, labeled=True, allow_skipped=True)
    loader = make_loader(dataset, 8, shuffle=True, workers=0, in_memory=False)
    with caplog.at_level(logging.WARNING, logger="textssl"):
        for _epoch in range(3):
            assert sorted(label for batch in loader for label in batch.labels) == ["AB12", "XY9"]
    assert sum("image-000000004" in r.getMessage() for r in caplog.records) == 1


def test_finetune_on_an_lmdb_with_bad_rows_goes_on_where_most_rows_are_good(tmp_path, capsys):
    rows = [(_png(64, 16), "AB12"), (_png(64, 16), ""), (b"\x89PNG\r\n\x1a\n broken", "CD34"), (_png(64, 16), "XY9"),
            (_png(64, 16), "Q7")]
    write_lmdb(tmp_path / "db", rows)
    run = tmp_path / "run"
    assert main(["finetune", "--train", str(tmp_path / "db"), "--val", str(tmp_path / "db"), "--out", str(run),
                 "--max-steps", "1", "--batch-size", "2", "--charset", "captcha", "--no-progress"]) == 0
    assert (run / "model.safetensors").is_file()


def test_a_set_of_which_most_rows_are_left_out_is_refused(mixed_lmdb, tmp_path, capsys):
    """mixed_lmdb: 2 of its 5 labels cannot be used and 1 of the other 3 images cannot be decoded."""
    args = ["finetune", "--train", mixed_lmdb, "--val", mixed_lmdb, "--out", str(tmp_path / "run"), "--max-steps",
            "1", "--batch-size", "2", "--charset", "captcha", "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {mixed_lmdb}: only 2 of its 5 rows can be used (first left out: label-000000002, empty "
                   "label); fix the data (or --charset), or pass --allow-skipped"]
    assert main([*args, "--allow-skipped"]) == 0


def test_unlabeled_lmdb_where_labels_are_needed(tmp_path, capsys):
    write_lmdb(tmp_path / "unlabeled", [(_png(64, 16), None)] * 3)
    with pytest.raises(UserError, match="has no labels"):
        LmdbTextDataset(str(tmp_path / "unlabeled"), ImageSpec(), charset=CHARSET, labeled=True)


def test_num_labels_is_a_seeded_subset(tmp_path):
    write_lmdb(tmp_path / "db", [(_png(64, 16), f"A{i}") for i in range(10)])
    pick = lambda seed: LmdbTextDataset(str(tmp_path / "db"), ImageSpec(), charset=CHARSET, labeled=True,  # noqa: E731
                                        num_labels=4, seed=seed).labels
    assert len(pick(0)) == 4 and pick(0) == pick(0) and pick(0) != pick(1)
    with pytest.raises(UserError, match="--num-labels 11"):
        LmdbTextDataset(str(tmp_path / "db"), ImageSpec(), charset=CHARSET, labeled=True, num_labels=11)
    assert len(LmdbReader(tmp_path / "db")) == 10


def test_resize_keeps_aspect_and_pads_right_with_the_border_median():
    image = Image.new("L", (40, 20), 230)  # 2:1 -> 64x32, a dark stroke inside, a dark dot on the border
    image.paste(10, (10, 5, 30, 15))
    image.putpixel((0, 0), 0)
    tensor, width = to_tensor(image, ImageSpec(height=32, width=128))
    assert tensor.dtype == torch.uint8 and tensor.shape == (1, 32, 128) and width == 64
    assert (tensor[..., 64:] == 230).all() and tensor[..., :64].min() < 50  # paper, not black; the ink kept
    wide, width = to_tensor(Image.new("RGB", (1000, 10), (255, 0, 0)), ImageSpec(height=32, width=128, channels=3))
    assert wide.shape == (3, 32, 128) and width == 128 and (wide[0] == 255).all() and (wide[1] == 0).all()
    rgb, _ = to_tensor(Image.new("RGB", (16, 32), (200, 100, 50)), ImageSpec(height=32, width=64, channels=3))
    assert rgb[:, :, 16:].flatten(1).unique(dim=1).tolist() == [[200], [100], [50]]  # per channel


@pytest.mark.parametrize("command", ["finetune", "pretrain"])
def test_streamed_batches_of_undecodable_images_are_skipped(tmp_path, monkeypatch, command):
    """4 undecodable images of 6 in batches of 2: every epoch has a batch with nothing left in it."""
    monkeypatch.setattr(dataset_module, "PRELOAD_LIMIT_BYTES", 0)  # stream from the LMDB, as for large sets
    broken = b"\x89PNG\r\n\x1a\n broken"
    write_lmdb(tmp_path / "db", [(broken, "AB12")] * 4 + [(_png(128, 32), "XY9"), (_png(128, 32), "CD34")])
    options = (["--train", str(tmp_path / "db"), "--val", str(tmp_path / "db")] if command == "finetune"
               else ["--method", "simclr", "--data", str(tmp_path / "db")])
    args = [command, *options, "--out", str(tmp_path / "run"), "--max-steps", "3", "--batch-size", "2", "--workers",
            "0", "--no-progress"]
    if command == "finetune":
        args += ["--charset", "captcha"]
    assert main(args) == 2  # 4 of 6 cannot be decoded: refused, unless asked for
    assert main([*args, "--allow-skipped"]) == 0


def test_preloading_in_worker_processes_keeps_the_order_and_counts_the_undecodable(tmp_path):
    """Above 4,096 images the decoding runs in worker processes, which hand back one tensor per batch."""
    rows = [(_png(8 + i % 3, 16, value=i % 256), f"A{i % 10}") for i in range(4200)]
    rows[4150] = (b"\x89PNG\r\n\x1a\n broken", "B1")
    write_lmdb(tmp_path / "db", rows)
    dataset = LmdbTextDataset(str(tmp_path / "db"), ImageSpec(), charset=CHARSET, labeled=True)
    loaded = dataset_module.preload(dataset, workers=2)
    assert len(loaded) == 4199 and loaded.labels[4150] == rows[4151][1]
    assert loaded.images[5, 0, 0, 0] == 5 and loaded.widths[:3].tolist() == [16, 18, 20]
