import pytest
import torch

from textssl.data.charset import Charset
from textssl.eval.metrics import cer, one_minus_ned, text_metrics, word_accuracy
from textssl.models.decoders.ctc import CTCDecoder, ctc_frames


def greedy_decode(logits, chars="a"):
    return CTCDecoder(Charset(chars), 4).decode(logits)


def test_cer_single_pair():
    assert cer("abc", "abd") == pytest.approx(1 / 3)


def test_metrics_on_hand_computed_lists():
    predictions, targets = ["abc", "ab", "xyz", ""], ["abc", "abc", "xy", "a"]
    # distances 0, 1, 1, 1; target lengths 3, 3, 2, 1
    assert word_accuracy(predictions, targets) == 0.25
    assert cer(predictions, targets) == pytest.approx(3 / 9)
    assert one_minus_ned(predictions, targets) == pytest.approx(1 - (0 + 1 / 3 + 1 / 3 + 1) / 4)
    assert text_metrics(predictions, targets)["num_samples"] == 4


def test_one_minus_ned_uses_the_longer_string():
    assert one_minus_ned("abcd", "ab") == pytest.approx(1 - 2 / 4)


def _logits(path, num_classes=4, peak=5.0):
    logits = torch.zeros(len(path), num_classes)
    logits[torch.arange(len(path)), torch.tensor(path)] = peak
    return logits


def test_greedy_decode_merges_repeats_and_drops_blanks():
    charset = Charset("abc")
    # path a a _ a b b _ _ c  -> "aabc"
    batch = torch.stack([_logits([1, 1, 0, 1, 2, 2, 0, 0, 3]), _logits([0, 0, 0, 0, 0, 0, 0, 0, 0])])
    (text, conf), (empty, _) = greedy_decode(batch, charset.chars)
    assert text == "aabc"
    assert empty == ""
    assert 0.0 < conf <= 1.0


def test_confidence_is_the_probability_of_the_text_over_every_alignment():
    # two frames, classes blank and 'a': P("a") = p(a a) + p(a _) + p(_ a)
    probs = torch.tensor([[0.3, 0.7], [0.6, 0.4]])
    ((text, conf),) = greedy_decode(probs.log()[None])
    assert text == "a" and conf == pytest.approx(0.7 * 0.4 + 0.7 * 0.6 + 0.3 * 0.4)
    ((text, conf),) = greedy_decode(torch.tensor([[0.9, 0.1], [0.8, 0.2]]).log()[None])
    assert text == "" and conf == pytest.approx(0.9 * 0.8)  # the empty text: blank at every frame


def test_ctc_frames_and_the_decoder_s_misfit():
    assert ctc_frames("AB") == 2 and ctc_frames("AAB") == 4 and ctc_frames("AAA") == 5
    decoder = CTCDecoder(Charset("AB"), 4)
    assert decoder.misfit("AAB", 4) == "" and decoder.misfit("AAA", 4) == "needs 5 CTC frames, the model has 4"


def test_ctc_loss_is_the_negative_log_probability_of_the_text_per_character():
    decoder = CTCDecoder(Charset("a"), 4)
    probs = torch.tensor([[0.3, 0.7], [0.6, 0.4]])  # P("a") = 0.7 * 0.4 + 0.7 * 0.6 + 0.3 * 0.4 = 0.82
    loss = decoder.loss(probs.log()[None], decoder.targets(["a"]))
    assert loss.item() == pytest.approx(-torch.tensor(0.82).log().item(), rel=1e-5)
