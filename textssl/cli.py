"""The ``textssl`` command line. Bad input ends in one ``error:`` line and exit status 2."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from textssl.config import add_options, build_config
from textssl.errors import UserError

COMMON_HELP = {
    "epochs": "training budget in epochs", "max_steps": "training budget in optimizer steps (overrides --epochs)",
    "batch_size": "images per batch", "optimizer": "adamw or sgd (momentum 0.9)", "lr": "peak learning rate",
    "weight_decay": "weight decay", "warmup": "fraction of the steps with linear warm-up (then cosine decay)",
    "augment": "view pipeline: captcha, seqclr, seqclr-light (seqclr without perspective, speckle or sharpening)"
               " or none",
    "strength": "augmentation strength, 0 to 2",
    "model": "model size: small or large",
    "shortcut": "linear shortcut around the BiLSTM (--no-shortcut: the classic CRNN)",
    "height": "image height", "width": "image width (padded)",
    "channels": "1 (grey) or 3 (RGB)", "seed": "random seed",
    "precision": "Lightning precision, e.g. 32-true, bf16-mixed",
    "devices": "Lightning devices (1, 2, auto, ...)", "workers": "data-loading worker processes",
    "progress": "show a progress bar",
}
PRETRAIN_HELP = {
    **COMMON_HELP, "data": "unlabeled (or labeled) LMDB; repeat for several", "out": "run directory to write",
    "method": "SSL method", "mapping": "instance mapping: all, frame or window (default: the method's)",
    "windows": "instances per image for --mapping window", "head": "projection head: mlp or bilstm",
    "features": "visual (CNN output) or contextual (after the BiLSTM)", "proj_dim": "projection size",
    "hidden_dim": "hidden size of the mlp head", "temperature": "InfoNCE temperature (simclr, seqclr)",
    "checkpoint_every": "write checkpoints/last.ckpt every N steps",
    "resume": "continue from checkpoints/last.ckpt with the options saved in OUT/config.json (give only --out"
              " and run-time options: --workers, --devices, --precision, --progress)",
}
FINETUNE_HELP = {
    **COMMON_HELP, "train": "labeled training LMDB; repeat for several", "val": "labeled validation LMDB",
    "out": "run directory to write", "init": "pretraining run whose encoder starts the recognizer",
    "protocol": "full, frozen (encoder frozen) or two-stage (head, then whole network)",
    "num_labels": "use a seeded random subset of N labeled samples",
    "head_steps": "two-stage: steps of the head stage (default: a fifth of the budget)",
    "lr_whole": "two-stage: learning rate of the whole-network stage", "charset": "charset preset, file or chars:...",
    "val_every": "validate every N steps (default: a tenth of each stage)",
    "model": "model size: small or large (default: the --init run's, else small)",
    "height": "image height (default: the --init run's, else 32)",
    "width": "image width, padded (default: the --init run's, else 128)",
    "channels": "1 (grey) or 3 (RGB) (default: the --init run's, else 1)",
    "early_stopping": "stop after N validations without improvement (those that read nothing do not count)",
    "clip": "gradient clipping norm",
}


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _size(text: str) -> tuple[int, int]:
    from textssl.data.captcha_gen import parse_size

    size = parse_size(text)
    if size is None:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT, e.g. 160x60, got {text!r}")
    return size


def _data_parser(sub) -> None:
    data = sub.add_parser("data", help="make, import and inspect LMDB datasets")
    data = data.add_subparsers(dest="data_cmd", metavar="SUBCOMMAND", required=True)
    cap = data.add_parser("captcha", help="generate captcha images into an LMDB")
    cap.add_argument("out", help="LMDB directory to create")
    cap.add_argument("--count", type=int, required=True, help="number of images")
    cap.add_argument("--labeled", action="store_true", help="store the labels (default: unlabeled)")
    cap.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    cap.add_argument("--charset", default="captcha", help="charset preset, file or chars:... (default: captcha)")
    cap.add_argument("--min-len", type=int, default=4, help="shortest text (default: 4)")
    cap.add_argument("--max-len", type=int, default=5, help="longest text (default: 5)")
    cap.add_argument("--width", type=int, default=128, help="image width (default: 128)")
    cap.add_argument("--height", type=int, default=32, help="image height (default: 32)")
    cap.add_argument("--render-size", type=_size, default=None, metavar="WxH",
                     help="draw at this size (python-captcha's own: 160x60), then resize to --width x --height "
                          "(default: draw at --width x --height)")
    cap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    imp = data.add_parser("import", help="import images + gt.txt (path<TAB>label) into an LMDB")
    imp.add_argument("out", help="LMDB directory to create")
    imp.add_argument("--images", required=True, help="folder the gt.txt paths are relative to")
    imp.add_argument("--labels", required=True, help="gt.txt with lines relative/path<TAB>label")
    imp.add_argument("--charset", default="full94", help="charset preset, file or chars:... (default: full94)")
    pre = data.add_parser("preview", help="write a PNG grid of samples and their augmented views")
    pre.add_argument("lmdb", help="LMDB to sample from")
    pre.add_argument("--out", required=True, help="PNG file to write")
    pre.add_argument("--augment", default="seqclr", help=f"{COMMON_HELP['augment']} (default: seqclr)")
    pre.add_argument("--strength", type=float, default=1.0, help="augmentation strength (default: 1.0)")
    pre.add_argument("--count", type=_positive, default=8, help="samples (default: 8)")


class _Parser(argparse.ArgumentParser):
    """Bad options end in one line and exit status 2, like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from textssl.methods import METHODS
    from textssl.train.finetune import FinetuneConfig
    from textssl.train.pretrain import PretrainConfig

    parser = _Parser(prog="textssl", description="Self-supervised pretraining for text recognition.")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    _data_parser(sub)
    pre = sub.add_parser("pretrain", help="SSL-pretrain an encoder on unlabeled images",
                         description=f"methods: {', '.join(METHODS)}")
    pre.add_argument("--config", help="YAML preset of these options")
    add_options(pre, PretrainConfig, PRETRAIN_HELP)
    fin = sub.add_parser("finetune", help="train a recognizer (from scratch, or from --init)")
    fin.add_argument("--config", help="YAML preset of these options")
    add_options(fin, FinetuneConfig, FINETUNE_HELP)
    ev = sub.add_parser("evaluate", help="word accuracy, 1-NED, CER and speed of a run on a labeled LMDB")
    ev.add_argument("run", help="fine-tuned run directory")
    ev.add_argument("--data", required=True, action="append", help="labeled LMDB; repeat for several")
    ev.add_argument("--json", help="also write the metrics to this JSON file")
    ev.add_argument("--batch-size", type=_positive, default=64, help="images per batch (default: 64)")
    st = sub.add_parser("study", help="label-efficiency study: SSL methods vs supervised at several label budgets")
    st.add_argument("--preset", required=True, help="preset name (captcha-quick, captcha-paper) or a YAML file")
    st.add_argument("--out", required=True, help="study folder (results.json, results.md, accuracy.png)")
    st.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars")
    de = sub.add_parser("demo", help="the captcha-quick study into ./textssl-demo, table on stdout")
    de.add_argument("--out", default="textssl-demo", help="study folder (default: textssl-demo)")
    for study_parser in (st, de):
        study_parser.add_argument("--seeds", type=int, nargs="+", metavar="S",
                                  help="fine-tune every cell once per seed (its own labeled subset, initialisation "
                                       "and views) and report the means; replaces the preset's 'seeds'")
    pr = sub.add_parser("predict", help="read images: path<TAB>text<TAB>confidence per line")
    pr.add_argument("run", help="fine-tuned run directory")
    pr.add_argument("images", nargs="+", help="image files")
    return parser


def _data(args) -> None:
    from textssl.data.charset import Charset
    if args.data_cmd == "captcha":
        from textssl.data.captcha_gen import generate_captchas
        stats = generate_captchas(args.out, args.count, labeled=args.labeled, seed=args.seed, charset=args.charset,
                                  min_len=args.min_len, max_len=args.max_len, width=args.width, height=args.height,
                                  render_size=args.render_size, workers=args.workers)
        print(f"wrote {stats['count']} images to {args.out} ({stats['images_per_second']:.0f} images/s)")
    elif args.data_cmd == "import":
        from textssl.data.importer import import_labeled_folder
        report = import_labeled_folder(args.out, args.images, args.labels, Charset.from_spec(args.charset))
        for line, reason in report.skipped:
            print(f"{args.labels}:{line}: skipped: {reason}", file=sys.stderr)
        print(f"kept {report.kept} rows, skipped {len(report.skipped)}; wrote {args.out}")
    else:
        from textssl.augment.preview import write_preview
        from textssl.augment.views import build_view_augment
        from textssl.data.dataset import ImageSpec, LmdbTextDataset, collate
        if not args.out.endswith(".png") or Path(args.out).is_dir():
            raise UserError(f"--out {args.out}: needs a file name ending in .png")
        dataset = LmdbTextDataset(args.lmdb, ImageSpec())
        batch = collate([dataset[i] for i in range(min(args.count, len(dataset)))])
        if batch is None:
            raise UserError(f"{args.lmdb}: none of its first {args.count} images can be decoded")
        write_preview(batch[0], args.out, build_view_augment(args.augment, args.strength))
        print(f"wrote {args.out}")


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
    if args.cmd == "data":
        _data(args)
    elif args.cmd in ("pretrain", "finetune"):
        options = {k: v for k, v in vars(args).items() if k not in ("cmd", "config")}
        if args.cmd == "pretrain":
            from textssl.train.pretrain import pretrain, pretrain_config
            metrics = pretrain(pretrain_config(options, args.config))
        else:
            from textssl.train.finetune import FinetuneConfig, finetune
            metrics = finetune(build_config(FinetuneConfig, options, args.config))
        from textssl.train.trainer import is_main_process
        if is_main_process():  # not again from each process of --devices N
            print(json.dumps(metrics, indent=2))
    elif args.cmd == "evaluate":
        from textssl.eval.evaluate import evaluate_run
        metrics = evaluate_run(args.run, args.data, batch_size=args.batch_size, json_path=args.json)
        for key, value in metrics.items():
            print(f"{key}\t{value:.4f}" if isinstance(value, float) else f"{key}\t{value}")
    elif args.cmd in ("study", "demo"):
        from textssl.eval.study import run_study
        preset = "captcha-quick" if args.cmd == "demo" else args.preset
        run_study(preset, args.out, progress=getattr(args, "progress", True), seeds=args.seeds)
        print((Path(args.out) / "results.md").read_text())
    elif args.cmd == "predict":
        return _predict(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
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
