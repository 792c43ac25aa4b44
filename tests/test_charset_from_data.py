"""The charset travels with the data: stored by import and the generators, taken by finetune; a set of
which most rows would be left out is an error, not a run on what is left."""
import io
import json
import logging

from PIL import Image

from textssl.cli import main
from textssl.data.lmdb_io import LmdbReader, write_lmdb


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (64, 32), value).save(buffer, format="PNG")
    return buffer.getvalue()


def _finetune(train, val, out, *extra):
    return main(["finetune", "--train", str(train), "--val", str(val), "--out", str(out), "--max-steps", "1",
                 "--batch-size", "4", "--no-progress", *extra])


def test_finetune_takes_the_charset_stored_in_the_training_lmdb(tmp_path, capsys):
    write_lmdb(tmp_path / "db", [(_png(10 * i), f"ab{i}") for i in range(8)], charset="0123456789abcdefghijklmnopqrstuvwxyz")
    assert _finetune(tmp_path / "db", tmp_path / "db", tmp_path / "run") == 0
    assert (tmp_path / "run" / "charset.txt").read_text() == "0123456789abcdefghijklmnopqrstuvwxyz"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["charset_name"] == "stored"


def test_without_a_stored_charset_the_characters_of_the_labels_and_it_says_so(tmp_path, capsys, caplog):
    write_lmdb(tmp_path / "db", [(_png(10 * i), label) for i, label in enumerate(["zq1", "a-b", "qq", "b1"])])
    assert LmdbReader(tmp_path / "db").charset is None  # as written by another toolkit
    with caplog.at_level(logging.INFO, logger="textssl"):
        assert _finetune(tmp_path / "db", tmp_path / "db", tmp_path / "run") == 0
    assert (tmp_path / "run" / "charset.txt").read_text() == "-1abqz"
    assert "charset: 6 characters from the training labels: -1abqz" in caplog.text


def test_training_on_1_of_1000_rows_is_an_error(tmp_path, capsys):
    """The case a new user met: lowercase labels, the digits-and-uppercase charset asked for."""
    rows = [(_png(i % 250), "abc") for i in range(999)] + [(_png(7), "ABC")]
    write_lmdb(tmp_path / "db", rows, charset="0123456789abcdefghijklmnopqrstuvwxyz")
    assert _finetune(tmp_path / "db", tmp_path / "db", tmp_path / "run", "--charset", "captcha") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'db'}: only 1 of its 1000 rows can be used (first left out: label-000000001, "
                   "'abc' outside charset 'captcha'); fix the data (or --charset), or pass --allow-skipped"]
    assert not (tmp_path / "run").exists()


def test_evaluating_on_1_of_1000_rows_is_an_error(tmp_path, capsys):
    write_lmdb(tmp_path / "train", [(_png(10 * i), f"A{i}") for i in range(8)])
    assert _finetune(tmp_path / "train", tmp_path / "train", tmp_path / "run") == 0
    write_lmdb(tmp_path / "test", [(_png(i % 250), "xyz") for i in range(999)] + [(_png(7), "A1")])
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "test")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "only 1 of its 1000 rows" in err[0] and "--allow-skipped" in err[0]
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "test"), "--allow-skipped"]) == 0
    assert "num_samples\t1" in capsys.readouterr().out
