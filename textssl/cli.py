"""The ``textssl`` command line. Bad input ends in one ``error:`` line and exit status 2."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from textssl.config import add_options, build_config
from textssl.cli_data import add_data_parser, positive, run_data
from textssl.errors import UserError
from textssl.methods import METHODS
from textssl.train.options import FINETUNE_STEPS, FinetuneConfig, PretrainConfig

COMMON_HELP = {
    "epochs": "training budget in epochs", "max_steps": "training budget in optimizer steps (overrides --epochs)",
    "batch_size": "images per batch", "optimizer": "adamw or sgd (momentum 0.9)", "lr": "peak learning rate",
    "weight_decay": "weight decay", "warmup": "fraction of the steps with linear warm-up (then cosine decay)",
    "augment": "view pipeline: captcha, seqclr, seqclr-light (seqclr without perspective, speckle or sharpening)"
               " or none",
    "strength": "augmentation strength, 0 to 2",
    "encoder": "encoder: cnn (the CRNN's), resnet or vit",
    "encoder_size": "encoder size: cnn small or large, resnet small or base, vit micro, tiny or small "
                    "(default: the first)",
    "sequence": "sequence model after the encoder: bilstm, none or transformer",
    "shortcut": "linear shortcut around the BiLSTM (--no-shortcut: the classic CRNN)",
    "height": "image height", "width": "image width (padded)",
    "channels": "1 (grey) or 3 (RGB)", "seed": "random seed",
    "precision": "Lightning precision, e.g. 32-true, bf16-mixed",
    "devices": "Lightning devices (1, 2, auto, ...)", "workers": "data-loading worker processes",
    "progress": "show a progress bar",
    "allow_skipped": "go on when fewer than half of a dataset's rows can be used (labels out of the charset, "
                     "images that cannot be decoded)",
}
PRETRAIN_HELP = {
    **COMMON_HELP, "data": "unlabeled (or labeled) LMDB; repeat for several", "out": "run directory to write",
    "method": "SSL method; each method declares its own options: "
              "textssl pretrain --method NAME --help lists them",
    "features": "visual (the encoder's output) or contextual (after the sequence model)",
    "checkpoint_every": "write checkpoints/last.ckpt every N steps",
    "resume": "continue from checkpoints/last.ckpt with the options saved in OUT/config.json (give only --out"
              " and run-time options: --workers, --devices, --precision, --progress)",
}
FINETUNE_HELP = {
    **COMMON_HELP, "train": "labeled training LMDB; repeat for several", "val": "labeled validation LMDB",
    "out": "run directory to write",
    "init": "pretraining run whose encoder starts the recognizer, or a fine-tuned recognizer (--protocol full or "
            "self-train)",
    "protocol": "full, frozen (encoder frozen), two-stage (head, then whole network) or self-train (from a "
                "fine-tuned --init: pseudo-label --unlabeled, train on labels + pseudo-labels)",
    "num_labels": "use a seeded random subset of N labeled samples",
    "epochs": "training budget in epochs (default: --max-steps)",
    "max_steps": f"training budget in optimizer steps (default: {FINETUNE_STEPS}, unless --epochs)",
    "head_steps": "two-stage: steps of the head stage (default: a fifth of the budget)",
    "lr_whole": "two-stage: learning rate of the whole-network stage",
    "charset": "charset preset, file or chars:... (default: a recognizer --init's, else the one stored in the "
               "training LMDB, else the characters of its labels)",
    "val_every": "validate every N steps (default: a tenth of each stage)",
    "encoder": "encoder: cnn (the CRNN's), resnet or vit (default: the --init run's, else cnn)",
    "sequence": "sequence model: bilstm, none or transformer (default: a pretrained one's, else bilstm)",
    "decoder": "decoder: ctc, attention (LSTM with attention) or transformer (default: a recognizer --init's, "
               "else ctc)",
    "max_length": "attention and transformer decoders: the longest text they emit",
    "rectify": "tps: a thin-plate-spline rectifier before the encoder",
    "height": "image height (default: the --init run's, else 32)",
    "width": "image width, padded (default: the --init run's, else 128)",
    "channels": "1 (grey) or 3 (RGB) (default: the --init run's, else 1)",
    "early_stopping": "stop after N validations without improvement (those that read nothing do not count)",
    "clip": "gradient clipping norm",
    "unlabeled": "self-train: unlabeled LMDB to pseudo-label; repeat for several",
    "self_train_rounds": "self-train: rounds of pseudo-labelling and training",
    "self_train_steps": "self-train: steps of each round (default: the budget)",
    "pseudo_threshold": "self-train: least confidence (probability of the read text) of a pseudo-label",
    "pseudo_agreement": "self-train: keep only pseudo-labels that an augmented view reads the same",
}


class _Parser(argparse.ArgumentParser):
    """Bad options end in one line and exit status 2, like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _named_method(argv: list[str]) -> str | None:
    """The --method value in ``argv``, if it names a method."""
    for arg, following in zip(argv, argv[1:] + [None]):
        value = following if arg == "--method" else arg[len("--method="):] if arg.startswith("--method=") else None
        if value in METHODS:
            return value
    return None


def _method_parser(method: str) -> argparse.ArgumentParser:
    from textssl.methods import method_class

    parser = _MethodParser(prog=f"textssl pretrain --method {method}", add_help=False)
    add_options(parser.add_argument_group(f"options of {method}"), method_class(method).Options)
    return parser


def _method_options(args, rest: list[str]) -> dict:
    """The options after pretrain's own: those of the method that --method (or --config) names."""
    from textssl.config import read_yaml

    method = args.method if "method" in vars(args) else \
        read_yaml(args.config).get("method", PretrainConfig.method) if args.config else PretrainConfig.method
    if method not in METHODS:
        raise UserError(f"--method {method}: not one of {', '.join(METHODS)}")
    return vars(_method_parser(method).parse_args(rest))


class _MethodParser(argparse.ArgumentParser):
    """A method's options, parsed after pretrain's own: a bad one is a UserError (one line, exit status 2)."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser(help_for_method: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``help_for_method``, pretrain's help lists that method's options (importing it)."""
    parser = _Parser(prog="textssl", description="Self-supervised pretraining for text recognition.")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    add_data_parser(sub, COMMON_HELP["augment"])
    pre = sub.add_parser("pretrain", help="SSL-pretrain an encoder on unlabeled images",
                         parents=[_method_parser(help_for_method)] if help_for_method else [],
                         description=f"methods: {', '.join(METHODS)}; each takes its own options "
                                     f"(textssl pretrain --method NAME --help)")
    pre.add_argument("--config", help="YAML preset of these options (and of the method's)")
    add_options(pre, PretrainConfig, PRETRAIN_HELP)
    fin = sub.add_parser("finetune", help="train a recognizer (from scratch, or from --init)")
    fin.add_argument("--config", help="YAML preset of these options")
    add_options(fin, FinetuneConfig, FINETUNE_HELP)
    ev = sub.add_parser("evaluate", help="word accuracy, 1-NED, CER and speed of a run on a labeled LMDB")
    ev.add_argument("run", help="fine-tuned run directory")
    ev.add_argument("--data", required=True, action="append", help="labeled LMDB; repeat for several")
    ev.add_argument("--json", help="also write the metrics to this JSON file")
    ev.add_argument("--batch-size", type=positive, default=64, help="images per batch (default: 64)")
    ev.add_argument("--allow-skipped", action="store_true", help=COMMON_HELP["allow_skipped"])
    st = sub.add_parser("study", help="label-efficiency study: SSL methods vs supervised at several label budgets")
    presets = ", ".join(sorted(p.stem for p in (Path(__file__).parent / "presets").glob("*.yaml")))
    st.add_argument("--preset", required=True, help=f"preset name ({presets}) or a YAML file")
    st.add_argument("--out", required=True, help="study folder (results.json, results.md, accuracy.png)")
    st.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars")
    de = sub.add_parser("demo", help="the captcha-quick study into ./textssl-demo, table on stdout")
    de.add_argument("--out", default="textssl-demo", help="study folder (default: textssl-demo)")
    for study_parser in (st, de):
        study_parser.add_argument("--seeds", type=int, nargs="+", metavar="S",
                                  help="fine-tune every cell once per seed (its own labeled subset, initialisation "
                                       "and views) and report the means; replaces the preset's 'seeds'")
    pr = sub.add_parser("predict", help="read images: path<TAB>text<TAB>confidence per line")
    pr.add_argument("run", help="fine-tuned run directory (with --onnx: the first image)")
    pr.add_argument("images", nargs="*", help="image files")
    pr.add_argument("--onnx", metavar="MODEL", help="read with this `textssl export` file in onnxruntime instead")
    ex = sub.add_parser("export", help="a fine-tuned run as an ONNX model (dynamic batch size)")
    ex.add_argument("run", help="fine-tuned run directory")
    ex.add_argument("--out", required=True, help="the .onnx file to write")
    return parser


def _check_inputs(args) -> None:
    """The paths a command reads exist and are of the right kind, before torch is imported."""
    from textssl.data.lmdb_io import locate
    from textssl.run_dir import MODEL_WEIGHTS, read_config

    lmdbs = {"pretrain": ("data",), "finetune": ("train", "val", "unlabeled"), "evaluate": ("data",)}
    for option in lmdbs.get(args.cmd, ()):
        value = getattr(args, option, None)
        for path in [value] if isinstance(value, str) else value or []:
            locate(path)
    if args.cmd == "predict" and args.onnx:
        args.run, args.images = args.onnx, [args.run, *args.images]
        if not Path(args.onnx).is_file():
            raise UserError(f"--onnx {args.onnx}: no such file")
    elif args.cmd in ("evaluate", "predict", "export"):
        read_config(args.run, MODEL_WEIGHTS, "recognizer")
    if args.cmd == "predict" and not args.images:
        raise UserError("predict: name at least one image file")
    if args.cmd == "export" and not args.out.endswith(".onnx"):
        raise UserError(f"--out {args.out}: name a .onnx file")
    if args.cmd == "export" and not Path(args.out).absolute().parent.is_dir():
        raise UserError(f"--out {args.out}: folder {Path(args.out).parent} does not exist")


def _predict(args, batch_size: int = 64) -> int:
    """One line per image; an unreadable image gets an error line and a non-zero exit, the others are read."""
    import torch

    from textssl.api import TextRecognizer
    reader = TextRecognizer.load(args.run)
    readable = []
    for path in args.images:
        try:
            readable.append((path, reader.image_tensor(path)))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
    for i in range(0, len(readable), batch_size):
        chunk = readable[i:i + batch_size]
        for (path, _), (text, confidence) in zip(chunk, reader.predict_batch(torch.stack([t for _, t in chunk]))):
            print(f"{path}\t{text}\t{confidence:.4f}")
    return 0 if len(readable) == len(args.images) else 1


def run(args) -> int:
    _check_inputs(args)
    if args.cmd == "data":
        run_data(args)
    elif args.cmd in ("pretrain", "finetune"):
        options = {k: v for k, v in vars(args).items() if k not in ("cmd", "config", "method_args")}
        if args.cmd == "pretrain":
            from textssl.train.pretrain import pretrain, pretrain_config
            if args.method_args:
                options["method_options"] = _method_options(args, args.method_args)
            metrics = pretrain(pretrain_config(options, args.config))
        else:
            from textssl.train.finetune import finetune, plateau_note
            cfg = build_config(FinetuneConfig, options, args.config)
            metrics = finetune(cfg)
        from textssl.train.trainer import is_main_process
        if is_main_process():  # not again from each process of --devices N
            print(json.dumps(metrics, indent=2))
            if metrics.get("plateau"):
                sys.stdout.flush()
                print(f"warning: {plateau_note(cfg)}", file=sys.stderr)
    elif args.cmd == "evaluate":
        from textssl.eval.evaluate import evaluate_run
        metrics = evaluate_run(args.run, args.data, batch_size=args.batch_size, json_path=args.json,
                               allow_skipped=args.allow_skipped)
        for key, value in metrics.items():
            print(f"{key}\t{value:.4f}" if isinstance(value, float) else f"{key}\t{value}")
    elif args.cmd in ("study", "demo"):
        from textssl.study.runner import run_study
        preset = "captcha-quick" if args.cmd == "demo" else args.preset
        run_study(preset, args.out, progress=getattr(args, "progress", True), seeds=args.seeds)
        print((Path(args.out) / "results.md").read_text())
    elif args.cmd == "predict":
        return _predict(args)
    elif args.cmd == "export":
        from textssl.api import TextRecognizer
        from textssl.export import export_onnx
        print(export_onnx(TextRecognizer.load(args.run, device="cpu"), args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    pretraining = bool(argv) and argv[0] == "pretrain"
    method = _named_method(argv) if pretraining and {"-h", "--help"} & set(argv) else None
    parser = build_parser(method)
    args, rest = parser.parse_known_args(argv) if pretraining else (parser.parse_args(argv), [])
    args.method_args = rest
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave that cannot be written or read
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # Lightning's clean-up after Ctrl-C ends in exit(1)
            print("interrupted", file=sys.stderr)
            return 130
        raise


if __name__ == "__main__":
    sys.exit(main())
