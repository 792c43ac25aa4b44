"""The autoregressive decoders (attention-LSTM, transformer), their tokenizer, loss and greedy decoding."""
import math
import warnings

import pytest
import torch
from torch import nn

from textssl.data.charset import Charset
from textssl.errors import UserError
from textssl.models.decoders.attention import AttentionDecoder
from textssl.models.decoders.tokenizer import AutoregressiveTokenizer
from textssl.models.decoders.transformer import TransformerDecoder

CHARSET = Charset("ABC")
DIM_IN, FRAMES, MAX_LENGTH = 16, 8, 6
E, A, B, C = 0, 1, 2, 3  # token ids for charset "ABC"


def make_decoder(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "attention":
        return AttentionDecoder(CHARSET, DIM_IN, max_length=MAX_LENGTH, hidden=32)
    return TransformerDecoder(CHARSET, DIM_IN, max_length=MAX_LENGTH, d_model=32, heads=2, dropout=0.0)


def features(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, FRAMES, DIM_IN, generator=torch.Generator().manual_seed(seed))


DECODERS = ["attention", "transformer"]


# --- tokenizer ---------------------------------------------------------------------------------

def test_tokenizer_ids_and_encode():
    tok = AutoregressiveTokenizer(CHARSET)
    assert (tok.eos, tok.bos, tok.pad, tok.num_classes) == (0, 4, 5, 4)
    ids = tok.encode(["AB", "C"])
    assert ids.dtype == torch.int64
    assert ids.tolist() == [[1, 2, 0], [3, 0, 5]]


def test_tokenizer_round_trip_and_special_tokens():
    tok = AutoregressiveTokenizer(CHARSET)
    for text in ["", "A", "CAB", "BBBA"]:
        assert tok.decode_ids(tok.encode([text])[0].tolist()) == text
    assert tok.decode_ids([tok.bos, A, tok.pad, B, E, C]) == "AB"  # [B]/[P] dropped, stops at [E]


def test_tokenizer_rejects_unknown_characters():
    with pytest.raises(UserError, match=r"'AxBy'.*'xy'"):
        AutoregressiveTokenizer(CHARSET).encode(["AB", "AxBy"])


# --- shared contract ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", DECODERS)
def test_contract_attributes_and_shapes(kind):
    dec = make_decoder(kind).eval()
    assert dec.num_classes == 4 and dec.max_length == MAX_LENGTH
    assert dec.fits("A" * MAX_LENGTH) and not dec.fits("A" * (MAX_LENGTH + 1))
    targets = dec.tokenizer.encode(["AB", "CAB", ""])
    assert dec(features(3), targets).shape == (3, 4, 4)
    assert dec(features(3)).shape == (3, MAX_LENGTH + 1, 4)
    assert dec(features(3).double()).dtype == torch.float32  # features cast to the weights' dtype
    with pytest.raises(UserError, match="max_length"):
        dec(features(1), dec.tokenizer.encode(["A" * (MAX_LENGTH + 1)]))


@pytest.mark.parametrize("kind", DECODERS)
def test_teacher_forcing_is_causal(kind):
    # Position i sees the inputs 0..i = [B], targets[0..i-1]. So changing target t+1 (the input at
    # position t+2) leaves positions <= t+1 exactly as they were and changes position t+2.
    dec = make_decoder(kind).eval()
    feats = features()
    targets = dec.tokenizer.encode(["ABCAB", "CABBA"])
    t = 1
    changed = targets.clone()
    changed[:, t + 1] = torch.where(targets[:, t + 1] == A, C, A)
    with torch.no_grad():
        before, after = dec(feats, targets), dec(feats, changed)
    torch.testing.assert_close(after[:, : t + 2], before[:, : t + 2], atol=1e-6, rtol=0)
    assert (after[:, t + 2] - before[:, t + 2]).abs().max() > 1e-4


@pytest.mark.parametrize("kind", DECODERS)
def test_greedy_feeds_back_its_argmax(kind):
    # Greedy logits equal teacher forcing on the greedy tokens; decode reads the argmax up to [E].
    dec = make_decoder(kind).eval()
    feats = features(3)
    with torch.no_grad():
        greedy = dec(feats)
        best = greedy.argmax(-1)
        torch.testing.assert_close(dec(feats, best), greedy, atol=1e-5, rtol=0)
    for (text, _), row in zip(dec.decode(greedy), best.tolist()):
        expected = row[: row.index(E)] if E in row else row
        assert text == "".join(CHARSET.chars[i - 1] for i in expected)


class ScriptedClassifier(nn.Module):
    """Stands in for a decoder's output layer: the k-th call's logits favour ``script[k]`` everywhere."""

    def __init__(self, script: list[int], num_classes: int):
        super().__init__()
        self.script, self.num_classes, self.calls = script, num_classes, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*x.shape[:-1], self.num_classes)
        logits[..., self.script[self.calls]] = 10.0
        self.calls += 1
        return logits


@pytest.mark.parametrize("kind", DECODERS)
def test_greedy_decoding_stops_at_the_end_token(kind):
    dec = make_decoder(kind).eval()
    dec.classifier = ScriptedClassifier([A, B, E, C, A, C, B], dec.num_classes)
    with torch.no_grad():
        logits = dec(features())
    assert dec.classifier.calls == MAX_LENGTH + 1  # every step runs: no early exit
    p = math.exp(10) / (math.exp(10) + 3)
    for text, confidence in dec.decode(logits):
        assert text == "AB"
        assert confidence == pytest.approx(p ** 3, rel=1e-5)  # A, B and [E]; what follows is ignored


@pytest.mark.parametrize("kind", DECODERS)
def test_rigged_output_layer_emits_the_end_token_first(kind):
    dec = make_decoder(kind).eval()
    with torch.no_grad():
        dec.classifier.weight.zero_()
        dec.classifier.bias.copy_(torch.tensor([8.0, 0.0, 0.0, 0.0]))
        results = dec.decode(dec(features()))
    assert [text for text, _ in results] == ["", ""]
    assert all(confidence > 0.9 for _, confidence in results)


@pytest.mark.parametrize("kind", DECODERS)
def test_greedy_trace_unrolls_for_any_batch(kind):
    # torch.onnx.export traces like torch.jit.trace: the loop must unroll with the batch left dynamic.
    dec = make_decoder(kind).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(dec, (features(2),))
        torch.testing.assert_close(traced(features(3, seed=5)), dec(features(3, seed=5)), atol=1e-5, rtol=0)


# --- loss and confidence -----------------------------------------------------------------------

def test_loss_is_near_zero_on_confident_logits_and_ignores_padding():
    dec = make_decoder("attention")
    targets = dec.tokenizer.encode(["AB", "C"])  # [[A, B, E], [C, E, P]]
    logits = torch.full((2, 3, 4), -20.0)
    for row in range(2):
        for step in range(3):
            if targets[row, step] != dec.tokenizer.pad:
                logits[row, step, targets[row, step]] = 20.0
    assert dec.loss(logits, targets).item() < 1e-6
    at_pad = logits.clone()
    at_pad[1, 2] = torch.tensor([50.0, -3.0, 7.0, 1.0])
    wrong = logits.clone()
    wrong[1, 1] = torch.tensor([-20.0, 20.0, -20.0, -20.0])  # [E] target scored as A
    assert dec.loss(at_pad, targets).item() == pytest.approx(dec.loss(logits, targets).item(), abs=1e-7)
    assert dec.loss(wrong, targets).item() == pytest.approx(40.0 / 5, rel=1e-4)  # mean over 5 non-pad tokens


def test_confidence_is_the_product_of_chosen_probabilities_up_to_the_end_token():
    dec = make_decoder("attention")
    logits = torch.tensor([[[0.0, 2.0, 0.0, 1.0],   # A
                            [1.0, 0.0, 0.0, 3.0],   # C
                            [2.0, 1.0, 0.0, 0.0],   # [E]
                            [0.0, 0.0, 5.0, 0.0]],  # B after [E]: ignored
                           [[0.0, 1.0, 0.5, 0.0],   # A
                            [0.0, 0.0, 2.0, 0.0],   # B
                            [0.0, 1.0, 0.0, 0.0],   # A
                            [0.0, 0.0, 0.0, 1.5]]])  # C, no [E]: all steps count

    def prob(step_logits, k):
        return math.exp(step_logits[k]) / sum(math.exp(v) for v in step_logits)

    rows = logits.tolist()
    first = prob(rows[0][0], A) * prob(rows[0][1], C) * prob(rows[0][2], E)
    second = prob(rows[1][0], A) * prob(rows[1][1], B) * prob(rows[1][2], A) * prob(rows[1][3], C)
    (text1, conf1), (text2, conf2) = dec.decode(logits)
    assert (text1, text2) == ("AC", "ABAC")
    assert conf1 == pytest.approx(first, rel=1e-6)
    assert conf2 == pytest.approx(second, rel=1e-6)


# --- learning ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", DECODERS)
def test_a_tiny_batch_is_learned(kind):
    dec = make_decoder(kind)
    feats = features()
    labels = ["AB", "BA"]
    targets = dec.tokenizer.encode(labels)
    optimizer = torch.optim.Adam(dec.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = dec.loss(dec(feats, targets), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    dec.eval()
    with torch.no_grad():
        assert [text for text, _ in dec.decode(dec(feats))] == labels
