import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from textssl.data.charset import Charset
from textssl.data.dataset import Batch
from textssl.models.assembly import assemble
from textssl.models.recognizer import Recognizer
from textssl.train.recognition import RecognizerTask


def test_validation_word_accuracy_counts_words_across_uneven_ranks():
    charset = Charset("AB")
    model = Recognizer(assemble(), charset)
    with torch.no_grad():  # every frame predicts 'A', so every image decodes to "A"
        model.decoder.head.weight.zero_()
        model.decoder.head.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    task = RecognizerTask(model, nn.Identity(), lr=1e-3, weight_decay=0.0, total_steps=1, warmup=0.0)
    images = torch.zeros(1, 1, 32, 128, dtype=torch.uint8)
    widths = torch.tensor([128])
    batches = [Batch(images.repeat(2, 1, 1, 1), widths.repeat(2), ["A", "B"]), Batch(images, widths, ["A"])]
    # one batch per rank: 0.5 and 1.0
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False,
                        enable_progress_bar=False, enable_model_summary=False)
    [metrics] = trainer.validate(task, DataLoader(batches, batch_size=None), verbose=False)
    assert abs(metrics["val_word_accuracy"] - 2 / 3) < 1e-6
