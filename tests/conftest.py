import pytest

from textssl.data.captcha_gen import generate_captchas


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Small labeled captcha LMDBs (train 192, val 64) and an unlabeled one (256), 128x32 grey."""
    root = tmp_path_factory.mktemp("captcha")
    paths = {}
    for name, count, labeled, seed in (("train", 192, True, 1), ("val", 64, True, 2), ("unlabeled", 256, False, 3)):
        paths[name] = str(root / name)
        generate_captchas(paths[name], count, labeled=labeled, seed=seed, width=128, height=32, workers=2,
                          progress=False)
    return paths


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory):
    """A recognizer fine-tuned for 2 steps on the tiny captchas."""
    from textssl.cli import main

    run = tmp_path_factory.mktemp("run") / "run"
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--max-steps", "2", "--batch-size", "32", "--no-progress"]) == 0
    return run
