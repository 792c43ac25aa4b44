"""The ``textssl data`` commands: generate, import and preview datasets (their parser and their run)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from textssl.errors import UserError
from textssl.methods import METHODS


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _size(text: str) -> tuple[int, int]:
    from textssl.data.captcha_gen import parse_size

    size = parse_size(text)
    if size is None:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT, e.g. 160x60, got {text!r}")
    return size


def _generator_args(parser, out_help: str, labeled_help: str, charset: str, min_len: int, max_len: int) -> None:
    parser.add_argument("out", help=out_help)
    parser.add_argument("--count", type=positive, required=True, help="number of images")
    parser.add_argument("--labeled", action="store_true", help=labeled_help)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--charset", default=charset, help=f"charset preset, file or chars:... (default: {charset})")
    parser.add_argument("--min-len", type=int, default=min_len, help=f"shortest text (default: {min_len})")
    parser.add_argument("--max-len", type=int, default=max_len, help=f"longest text (default: {max_len})")


def add_data_parser(sub, augment_help: str) -> None:
    data = sub.add_parser("data", help="make, import and inspect LMDB datasets")
    data = data.add_subparsers(dest="data_cmd", metavar="SUBCOMMAND", required=True)
    cap = data.add_parser("captcha", help="generate captcha images into an LMDB")
    _generator_args(cap, "LMDB directory to create", "store the labels (default: unlabeled)", "captcha", 4, 5)
    cap.add_argument("--width", type=int, default=128, help="image width (default: 128)")
    cap.add_argument("--height", type=int, default=32, help="image height (default: 32)")
    cap.add_argument("--render-size", type=_size, default=None, metavar="WxH",
                     help="draw at this size (python-captcha's own: 160x60), then resize to --width x --height "
                          "(default: draw at --width x --height)")
    cap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    ren = data.add_parser("render", help="render printed text lines (random strings in TrueType fonts) into an "
                                         "LMDB or a folder of PNG files")
    _generator_args(ren, "LMDB directory (or with --folder, a folder) to create",
                    "store the labels (with --folder: write gt.txt)", "lower36", 3, 12)
    ren.add_argument("--height", type=int, default=32, help="image height; widths follow the text (default: 32)")
    ren.add_argument("--fonts", default="sans,serif,stix",
                     help="font families (sans, serif, mono, stix, cm: matplotlib's fonts) or .ttf files, "
                          "comma-separated (default: sans,serif,stix)")
    ren.add_argument("--invert", type=float, default=0.0, help="share of light text on dark ground (default: 0)")
    ren.add_argument("--folder", action="store_true", help="write OUT/images/*.png (and OUT/gt.txt) instead")
    ren.add_argument("--workers", type=positive, default=None, help="processes (default: all cores)")
    imp = data.add_parser("import", help="import a folder of images (with --labels: those gt.txt names, with "
                                         "their labels) into an LMDB")
    imp.add_argument("out", help="LMDB directory to create")
    imp.add_argument("--images", required=True, help="folder of images (with --labels: the gt.txt paths are "
                                                     "relative to it)")
    imp.add_argument("--labels", help="gt.txt with lines relative/path<TAB>label (default: every image under "
                                      "--images, unlabeled)")
    imp.add_argument("--charset", help="charset preset, file or chars:...; rows outside it are skipped (default: "
                                       "the characters of the labels)")
    imp.add_argument("--workers", type=positive, default=None, help="processes (default: all cores)")
    pre = data.add_parser("preview", help="write a PNG grid of samples and their augmented views")
    pre.add_argument("lmdb", help="LMDB to sample from")
    pre.add_argument("--out", required=True, help="PNG file to write")
    pre.add_argument("--augment", default="seqclr", help=f"{augment_help} (default: seqclr)")
    pre.add_argument("--strength", type=float, default=1.0, help="augmentation strength (default: 1.0)")
    pre.add_argument("--count", type=positive, default=8, help="samples (default: 8)")
    pre.add_argument("--method", choices=METHODS, metavar="METHOD",
                     help="show every view this SSL method compares, with its default options (e.g. SwAV's crops)")


def run_data(args) -> None:
    from textssl.data.charset import Charset
    if args.data_cmd == "captcha":
        from textssl.data.captcha_gen import generate_captchas
        stats = generate_captchas(args.out, args.count, labeled=args.labeled, seed=args.seed, charset=args.charset,
                                  min_len=args.min_len, max_len=args.max_len, width=args.width, height=args.height,
                                  render_size=args.render_size, workers=args.workers, progress=sys.stderr.isatty())
        print(f"wrote {stats['count']} images to {args.out} ({stats['images_per_second']:.0f} images/s)")
    elif args.data_cmd == "render":
        from textssl.data.render_gen import render_lines
        stats = render_lines(args.out, args.count, labeled=args.labeled, seed=args.seed, charset=args.charset,
                             min_len=args.min_len, max_len=args.max_len, height=args.height, fonts=args.fonts,
                             invert=args.invert, folder=args.folder, workers=args.workers,
                             progress=sys.stderr.isatty())
        print(f"wrote {stats['count']} images to {args.out} ({stats['images_per_second']:.0f} images/s)")
    elif args.data_cmd == "import":
        from textssl.data.importer import import_labeled_folder, import_unlabeled_folder
        if args.labels is None:
            if args.charset:
                raise UserError("--charset goes with --labels: an unlabeled import has no labels to check")
            report = import_unlabeled_folder(args.out, args.images, workers=args.workers, progress=sys.stderr.isatty())
            where = lambda item: os.path.join(args.images, item)  # noqa: E731
        else:
            charset = Charset.from_spec(args.charset) if args.charset else None
            report = import_labeled_folder(args.out, args.images, args.labels, charset, workers=args.workers,
                                           progress=sys.stderr.isatty())
            where = lambda item: f"{args.labels}:{item}"  # noqa: E731
        for item, reason in report.skipped:
            print(f"{where(item)}: skipped: {reason}", file=sys.stderr)
        kind = "rows" if args.labels else "images"
        charset = f", charset of {len(report.charset)} characters: {report.charset}" if report.charset else ""
        print(f"kept {report.kept} {kind}, skipped {len(report.skipped)}; wrote {args.out} "
              f"({report.images_per_second:.0f} images/s{charset})")
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
        if args.method:
            write_preview(batch.images, args.out, views=method_views(args.method, args.augment, args.strength, batch))
        else:
            write_preview(batch.images, args.out, build_view_augment(args.augment, args.strength), batch.widths)
        print(f"wrote {args.out}")


def method_views(method: str, augment: str, strength: float, batch) -> list:
    """The titled views ``method`` (with its default options, on the default encoder, or the ViT for a
    method that masks patches) compares."""
    from textssl.methods import build_method, method_class
    from textssl.methods.base import ViewMaker
    from textssl.models.assembly import assemble
    from textssl.models.recognizer import PretrainBackbone

    patches = getattr(method_class(method), "needs_patches", False)  # a masking method: the ViT
    backbone = PretrainBackbone(assemble(encoder="vit" if patches else "cnn", encoder_size="micro" if patches else None,
                                         sequence="bilstm", shortcut=True,
                                         decoder=None, in_channels=batch.images.shape[1], height=batch.images.shape[2],
                                         width=batch.images.shape[3]))
    model = build_method(method, backbone)
    maker = ViewMaker(model, augment, strength)
    names = iter(maker.names)
    return [(f"{title}: {next(names)}" if title.startswith("view") else title, v)
            for title, v in model.shown_views(maker(batch.images, batch.widths))]
