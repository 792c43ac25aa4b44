"""Bad input ends in one 'error:' line naming the offending file, line or option, never a traceback."""
import shutil
import subprocess
import sys

import pytest

from textssl.cli import main
from textssl.data.lmdb_io import LmdbReader, write_lmdb


def run_cli(capsys, *argv):
    status = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return status, err


def assert_one_error_line(err, *words):
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    for word in words:
        assert word in err[0], (word, err[0])


def test_missing_lmdb_path(capsys, tmp_path, tiny_data):
    missing = str(tmp_path / "nope")
    status, err = run_cli(capsys, "finetune", "--train", missing, "--val", tiny_data["val"], "--out",
                          str(tmp_path / "run"), "--no-progress")
    assert status == 2
    assert_one_error_line(err, missing)


def test_plain_directory_is_not_an_lmdb(capsys, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.txt").write_text("hello")
    status, err = run_cli(capsys, "data", "preview", str(tmp_path / "plain"), "--out", str(tmp_path / "p.png"))
    assert status == 2
    assert_one_error_line(err, str(tmp_path / "plain"))


def test_truncated_lmdb(capsys, tmp_path, tiny_data):
    cut = tmp_path / "cut"
    shutil.copytree(tiny_data["val"], cut)
    data = cut / "data.mdb"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    status, err = run_cli(capsys, "data", "preview", str(cut), "--out", str(tmp_path / "p.png"))
    assert status == 2
    assert_one_error_line(err, str(cut))


def test_unknown_charset_name(capsys, tmp_path):
    status, err = run_cli(capsys, "data", "captcha", str(tmp_path / "c"), "--count", "4", "--charset", "klingon")
    assert status == 2
    assert_one_error_line(err, "klingon")


def test_run_directory_without_weights(capsys, tmp_path, tiny_data):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    status, err = run_cli(capsys, "evaluate", str(run), "--data", tiny_data["val"])
    assert status == 2
    assert_one_error_line(err, str(run), "model.safetensors")


def test_corrupt_and_missing_images_in_predict(capsys, tmp_path, tiny_run, tiny_data):
    from textssl.data.lmdb_io import LmdbReader
    good = tmp_path / "good.png"
    good.write_bytes(LmdbReader(tiny_data["val"]).image_bytes(0))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    status = main(["predict", str(tiny_run), str(corrupt), str(good), str(tmp_path / "missing.png")])
    captured = capsys.readouterr()
    assert status == 1  # the readable image is read, the others are named
    assert captured.out.count("\n") == 1 and captured.out.startswith(f"{good}\t")
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and "corrupt.png" in lines[0] and "missing.png" in lines[1]


def test_import_reports_bad_rows_by_line(capsys, tmp_path):
    from PIL import Image
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("L", (40, 16), 255).save(images / name)
    (images / "broken.png").write_bytes(b"garbage")
    gt = tmp_path / "gt.txt"
    gt.write_text("a.png\tAB12\nb.png\t\nc.png\tab\u00e9\nbroken.png\tXY\nmissing.png\tXY\n")
    status = main(["data", "import", str(tmp_path / "out"), "--images", str(images), "--labels", str(gt),
                   "--charset", "captcha"])
    captured = capsys.readouterr()
    assert status == 0 and "kept 1 rows, skipped 4" in captured.out
    skipped = captured.err.strip().splitlines()
    assert [line.split(":")[1] for line in skipped] == ["2", "3", "4", "5"]
    assert "empty" in skipped[0] and "\u00e9" in skipped[1]


def test_bad_config_key(capsys, tmp_path, tiny_data):
    config = tmp_path / "bad.yaml"
    config.write_text("epochs: 1\nlearning_rat: 0.1\n")
    status, err = run_cli(capsys, "pretrain", "--config", str(config), "--data", tiny_data["unlabeled"],
                          "--out", str(tmp_path / "pre"))
    assert status == 2
    assert_one_error_line(err, "learning_rat", str(config))


def test_bad_option_value_is_one_line_from_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pretrain", "--data", "x", "--out", "y", "--method", "dino"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert_one_error_line(err, "--method", "dino", "simclr")


def test_finetune_refuses_to_overwrite_a_run(capsys, tiny_data, tiny_run):
    status, err = run_cli(capsys, "finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out",
                          str(tiny_run), "--max-steps", "1", "--no-progress")
    assert status == 2
    assert_one_error_line(err, str(tiny_run), "holds a run")


def test_pretrain_refuses_an_out_that_holds_a_run(capsys, tiny_data, tiny_run):
    before = (tiny_run / "config.json").read_text()
    status, err = run_cli(capsys, "pretrain", "--data", tiny_data["unlabeled"], "--out", str(tiny_run),
                          "--max-steps", "1", "--batch-size", "32", "--no-progress")
    assert status == 2
    assert_one_error_line(err, str(tiny_run), "holds a run")
    assert (tiny_run / "config.json").read_text() == before


def test_a_run_that_failed_before_writing_anything_can_be_started_again(capsys, tiny_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")  # as a start that died before its first weights
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--max-steps", "1", "--batch-size", "32", "--no-progress"]) == 0
    assert (run / "metrics.json").is_file()


def test_bad_devices_fail_before_the_run_is_written(capsys, tiny_data, tmp_path):
    status, err = run_cli(capsys, "finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out",
                          str(tmp_path / "run"), "--max-steps", "1", "--devices", "foo", "--no-progress")
    assert status == 2
    assert_one_error_line(err, "--devices foo")
    assert not (tmp_path / "run").exists()  # so the same command with good --devices can run


@pytest.mark.parametrize("argv, words", [
    (["evaluate", "RUN", "--data", "VAL", "--batch-size", "0"], ["--batch-size", "at least 1"]),
    (["data", "preview", "VAL", "--out", "OUT/p.png", "--count", "0"], ["--count", "at least 1"]),
    (["data", "preview", "VAL", "--out", "OUT/p.txt"], ["--out", "ending in .png"]),
    (["evaluate", "RUN", "--data", "VAL", "--json", "VAL/data.mdb"], ["--json", "ending in .json"]),
    (["pretrain", "--out", "OUT", "--config", "OUT/resume.yaml"], ["'resume' belongs on the command line"]),
    (["data", "captcha", "OUT/c", "--count", "4", "--render-size", "160"], ["--render-size", "WIDTHxHEIGHT", "'160'"]),
    (["data", "captcha", "OUT/c", "--count", "4", "--render-size", "160x8"], ["--render-size", "16", "(160, 8)"]),
    ([], ["COMMAND"]),
])
def test_bad_arguments_are_one_line(capsys, tiny_data, tiny_run, tmp_path, argv, words):
    (tmp_path / "resume.yaml").write_text("resume: true\ndata: x\n")
    names = {"RUN": str(tiny_run), "VAL": tiny_data["val"], "OUT": str(tmp_path)}
    parts = [a.partition("/") for a in argv]
    argv = [names[head] + sep + rest if head in names else head + sep + rest for head, sep, rest in parts]
    try:
        status = main(argv)
    except SystemExit as exit_:  # the parser's own errors
        status = exit_.code
    assert status == 2
    assert_one_error_line(capsys.readouterr().err.strip().splitlines(), *words)
    assert LmdbReader(tiny_data["val"]).label(0)  # --json did not write over the dataset


def test_unwritable_output_path(capsys, tiny_data, tiny_run, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "m.json"
    status, err = run_cli(capsys, "evaluate", str(tiny_run), "--data", tiny_data["val"], "--json", str(target))
    assert status == 2
    assert_one_error_line(err, "m.json")


def test_pretraining_run_is_not_a_recognizer(capsys, tiny_data, tmp_path):
    pre = tmp_path / "pre"
    assert main(["pretrain", "--data", tiny_data["unlabeled"], "--out", str(pre), "--max-steps", "1",
                 "--batch-size", "32", "--no-progress"]) == 0
    capsys.readouterr()
    status, err = run_cli(capsys, "evaluate", str(pre), "--data", tiny_data["val"])
    assert status == 2
    assert_one_error_line(err, str(pre), "model.safetensors")
    (pre / "model.safetensors").write_bytes((pre / "encoder.safetensors").read_bytes())
    status, err = run_cli(capsys, "predict", str(pre), "x.png")
    assert_one_error_line(err, str(pre), "not a recognizer run")
    status, err = run_cli(capsys, "finetune", "--init", str(pre), "--width", "100", "--train", tiny_data["train"],
                          "--val", tiny_data["val"], "--out", str(tmp_path / "run"))
    assert status == 2  # the recognizer takes its encoder's input size: a different one is refused, not ignored
    assert_one_error_line(err, "--width 100", str(pre), "trained with 128")


def test_pretraining_on_one_image(capsys, tmp_path, tiny_data):
    write_lmdb(tmp_path / "one", [(LmdbReader(tiny_data["unlabeled"]).image_bytes(0), None)])
    status, err = run_cli(capsys, "pretrain", "--data", str(tmp_path / "one"), "--out", str(tmp_path / "run"),
                          "--no-progress")
    assert status == 2
    assert_one_error_line(err, str(tmp_path / "one"), "it needs two")


@pytest.mark.parametrize("argv", [["--help"], ["finetune", "--help"], ["pretrain", "--help"],
                                  ["evaluate", "RUN", "--data", "OUT/missing"], ["finetune", "--train", "OUT/missing",
                                                                                 "--val", "VAL", "--out", "OUT/x"],
                                  ["pretrain", "--data", "VAL", "--out", "OUT/x", "--method", "nope"]])
def test_help_and_bad_paths_answer_without_importing_torch(argv, tiny_run, tiny_data, tmp_path):
    names = {"RUN": str(tiny_run), "VAL": tiny_data["val"], "OUT": str(tmp_path)}
    argv = [names.get(a.partition("/")[0], a.partition("/")[0]) + "".join(a.partition("/")[1:]) for a in argv]
    code = ("import sys\nfrom textssl.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'lightning' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("option, words", [
    (["--method", "simsiam", "--temperature", "0.2"], ["textssl pretrain --method simsiam",
                                                        "unrecognized arguments: --temperature 0.2"]),
    (["--method", "seqclr", "--windows", "0"], ["--windows must be at least 1, got 0"]),
    (["--method", "simclr", "--mapping", "pixels"], ["--mapping", "invalid choice: 'pixels'"]),
    (["--method", "simclr", "--temperature", "hot"], ["--temperature", "invalid float value: 'hot'"]),
])
def test_bad_method_options_are_one_line(option, words, capsys, tmp_path, tiny_data):
    status, err = run_cli(capsys, "pretrain", "--data", tiny_data["unlabeled"], "--out", str(tmp_path / "run"),
                          *option, "--max-steps", "1", "--no-progress")
    assert status == 2
    assert_one_error_line(err, *words)
    assert not (tmp_path / "run").exists()


def test_a_method_lists_its_own_options(capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--method", "simsiam", "--help"])
    text = capsys.readouterr().out
    assert "options of simsiam" in text and "--windows" in text and "--temperature" not in text
