"""A PNG grid of augmented views, to check a pipeline by eye."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from textssl.augment.views import make_views  # noqa: E402


def write_preview(images_uint8: Tensor, out_png: str, augment: nn.Module | None = None,
                  widths: Tensor | None = None, num_views: int = 2,
                  views: list[tuple[str, Tensor]] | None = None) -> None:
    """Save a grid: one row per sample, column 0 the original, then num_views views of ``augment``, or
    the titled ``views`` (a method's, each float [N, C, H, W'] in [0, 1]).

    images_uint8: uint8 [N, C, H, W] with C = 1 or 3; widths: their content widths [N], or None.
    """
    original = images_uint8.float() / 255
    if views is None:
        views = [(f"view {i + 1}", v) for i, v in enumerate(make_views(images_uint8, augment, num_views, widths))]
    titles = ["original", *(title for title, _ in views)]
    columns = [original, *(v for _, v in views)]
    n, c, h, w = original.shape
    cols = len(columns)
    fig, axes = plt.subplots(n, cols, figsize=(cols * w / h, n), squeeze=False)
    for row in range(n):
        for col, batch in enumerate(columns):
            ax = axes[row][col]
            image = batch[row].detach().cpu().clamp(0, 1)
            if c == 1:
                ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(image.permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, format="png")
    plt.close(fig)


def write_captioned(examples: list[tuple[Tensor, str]], out_png: str) -> None:
    """Save one row per (float image [C, H, W] in [0, 1], caption): a pretext task's inputs and targets."""
    widest = max(image.shape[-1] / image.shape[-2] for image, _ in examples)
    fig, axes = plt.subplots(len(examples), 1, figsize=(max(3.0, widest), 1.2 * len(examples)), squeeze=False)
    for ax, (image, caption) in zip(axes[:, 0], examples):
        image = image.detach().float().cpu().clamp(0, 1)
        if image.shape[0] == 1:
            ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(caption, fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, format="png")
    plt.close(fig)
