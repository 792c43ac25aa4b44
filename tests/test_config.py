"""Options from YAML and the command line: precedence, types, choices and ranges, named in errors."""
import pytest

from textssl.config import build_config, config_from_dict
from textssl.errors import UserError
from textssl.train.finetune import FinetuneConfig
from textssl.train.options import with_method_options
from textssl.train.pretrain import PretrainConfig, pretrain_config

REQUIRED = {"data": ["u.lmdb"], "out": "run"}


def test_command_line_wins_over_yaml_which_wins_over_defaults(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("batch-size: 16\nlr: 3.0e-4\nmethod: simsiam\n")
    cfg = pretrain_config({**REQUIRED, "lr": 0.01}, str(preset))
    assert (cfg.batch_size, cfg.lr, cfg.method, cfg.method_options["windows"]) == (16, 0.01, "simsiam", 5)


def test_yaml_numbers_written_as_strings_are_converted():
    cfg = config_from_dict(PretrainConfig, {**REQUIRED, "lr": "3e-4", "max_steps": "20", "devices": 2}, "p.yaml")
    assert cfg.lr == 3e-4 and cfg.max_steps == 20 and cfg.devices == "2"


@pytest.mark.parametrize("key, value, message", [
    ("lr", "fast", "p.yaml: 'lr' must be a number, got 'fast'"),
    ("batch_size", 2.5, "p.yaml: 'batch_size' must be a whole number, got 2.5"),
    ("batch_size", None, "p.yaml: 'batch_size' needs a value"),
    ("batch_size", 0, "p.yaml: 'batch_size' must be at least 2, got 0"),
    ("warmup", 500, "p.yaml: 'warmup' must be at most 1.0, got 500.0"),
    ("progress", "no", "p.yaml: 'progress' must be true or false, got 'no'"),
    ("data", 5, "p.yaml: 'data' must be a path or a list of paths, got 5"),
    ("method", "dino", "p.yaml: 'method': 'dino' is not one of simclr, simsiam, seqclr, moco-v1"),
    ("mapping", "pixels", "'mapping': 'pixels' is not one of all, frame, window"),
    ("channels", 2, "'channels': 2 is not one of 1, 3"),
    ("strength", 3, "p.yaml: 'strength' must be at most 2.0, got 3.0"),
    ("lr", "nan", "p.yaml: 'lr' must be a finite number, got nan"),
    ("epochs", ".inf", "p.yaml: 'epochs' must be a number, got '.inf'"),
    ("epochs", float("inf"), "p.yaml: 'epochs' must be a finite number, got inf"),
    ("max_steps", float("inf"), "p.yaml: 'max_steps' must be a whole number, got inf"),
    ("seed", 2**64, "p.yaml: 'seed' must be at most 18446744073709551615, got 18446744073709551616"),
    ("data", [], "p.yaml: 'data' must be a path or a list of paths, got []"),
    ("height", 34, "p.yaml: 'height' must be a multiple of 4, got 34"),
    ("extra_callbacks", [], "p.yaml: unknown key 'extra_callbacks'"),
    ("learning_rate", 0.1, "p.yaml: unknown key 'learning_rate'"),
    ("windows", 0, "p.yaml: 'windows' must be at least 1, got 0"),  # a method's option (seqclr's)
    ("temperature", "hot", "p.yaml: 'temperature' must be a number, got 'hot'"),
    ("method_options", [1], "p.yaml: 'method_options' must be a mapping of option: value, got [1]"),
])
def test_bad_values_name_the_file_and_key(key, value, message):
    with pytest.raises(UserError) as error:
        with_method_options({**REQUIRED, key: value}, "p.yaml")
    assert message in str(error.value)


def test_bad_command_line_value_names_the_option():
    with pytest.raises(UserError, match="^--num-labels must be at least 1, got 0$"):
        build_config(FinetuneConfig, {"train": ["t"], "val": "v", "out": "o", "num_labels": 0})
    with pytest.raises(UserError, match="missing required option --val"):
        build_config(FinetuneConfig, {"train": ["t"], "out": "o"})


def test_yaml_file_not_in_utf8(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("lr: 0.1\n", encoding="utf-16")
    with pytest.raises(UserError, match="p.yaml: not UTF-8 text"):
        build_config(PretrainConfig, REQUIRED, str(preset))


def test_optional_fields_take_none():
    cfg = config_from_dict(FinetuneConfig, {"train": "t", "val": "v", "out": "o", "init": None, "max_steps": None},
                           "p.yaml")
    assert cfg.init is None and cfg.max_steps is None and cfg.train == ["t"]
