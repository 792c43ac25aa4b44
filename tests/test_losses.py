import math

import pytest
import torch
import torch.nn.functional as F

from textssl.losses import contrastive_margin, info_nce, n_pair, negative_cosine, triplet

# ---- hand-computed values ----------------------------------------------------------------


def test_info_nce_by_hand():
    # normalised rows: a0 = e1, a1 = e2, b0 = (0.6, 0.8), b1 = e1; t = 0.5
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    t = 0.5
    e = lambda cos: math.exp(cos / t)  # noqa: E731
    l0 = -math.log(e(0.6) / (e(0.0) + e(0.6) + e(1.0)))  # anchor a0: a1, b0 (positive), b1
    l1 = -math.log(e(0.0) / (e(0.0) + e(0.8) + e(0.0)))  # anchor a1: a0, b0, b1 (positive)
    l2 = -math.log(e(0.6) / (e(0.6) + e(0.8) + e(0.6)))  # anchor b0: a0 (positive), a1, b1
    l3 = -math.log(e(0.0) / (e(1.0) + e(0.0) + e(0.6)))  # anchor b1: a0, a1 (positive), b0
    expected = (l0 + l1 + l2 + l3) / 4
    assert info_nce(a, b, temperature=t).item() == pytest.approx(expected, abs=1e-5)


def test_negative_cosine_by_hand():
    p = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    z = torch.tensor([[1.0, 1.0], [4.0, 3.0]])
    expected = -(1 / math.sqrt(2) + 24 / 25) / 2
    assert negative_cosine(p, z).item() == pytest.approx(expected, abs=1e-6)


def test_contrastive_margin_by_hand():
    x1 = torch.zeros(3, 2)
    x2 = torch.tensor([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])  # distances 5, 0.5, 5
    similar = torch.tensor([True, False, False])
    expected = (0.5 * 5**2 + 0.5 * (1 - 0.5) ** 2 + 0.0) / 3
    assert contrastive_margin(x1, x2, similar, margin=1.0).item() == pytest.approx(expected, abs=1e-5)


def test_triplet_by_hand():
    anchor = torch.zeros(2, 2)
    positive = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # d = 5, 1
    negative = torch.tensor([[6.0, 8.0], [0.0, 0.5]])  # d = 10, 0.5
    expected = (max(0.0, 5 - 10 + 1) + max(0.0, 1 - 0.5 + 1)) / 2
    assert triplet(anchor, positive, negative, margin=1.0).item() == pytest.approx(expected, abs=1e-5)


def test_n_pair_by_hand():
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # logits [[2, 1], [0, 1]]
    l0 = -math.log(math.exp(2) / (math.exp(2) + math.exp(1)))
    l1 = -math.log(math.exp(1) / (math.exp(0) + math.exp(1)))
    assert n_pair(anchor, positive).item() == pytest.approx((l0 + l1) / 2, abs=1e-5)


# ---- loop references on random inputs ------------------------------------------------------


def _cos(u, v):
    return float(u @ v) / (float(u.norm()) * float(v.norm()))


def _dist(u, v):
    return math.sqrt(sum((float(p) - float(q)) ** 2 for p, q in zip(u, v)))


def _info_nce_loop(a, b, t):
    z = list(a) + list(b)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        partner = (i + n2 // 2) % n2
        denom = sum(math.exp(_cos(z[i], z[j]) / t) for j in range(n2) if j != i)
        total += -math.log(math.exp(_cos(z[i], z[partner]) / t) / denom)
    return total / n2


@pytest.fixture
def rows():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(6, 5, generator=g) for _ in range(3)]


def test_info_nce_matches_loop(rows):
    a, b, _ = rows
    for t in (0.1, 0.5, 1.0):
        assert info_nce(a, b, t).item() == pytest.approx(_info_nce_loop(a, b, t), abs=1e-5)


def test_negative_cosine_matches_loop(rows):
    p, z, _ = rows
    expected = -sum(_cos(p[i], z[i]) for i in range(len(p))) / len(p)
    assert negative_cosine(p, z).item() == pytest.approx(expected, abs=1e-5)


def test_contrastive_margin_matches_loop(rows):
    x1, x2, _ = rows
    similar = torch.tensor([True, False, True, False, False, True])
    margin = 3.0  # some dissimilar pairs inside the margin, some outside
    terms = []
    for i in range(len(x1)):
        d = _dist(x1[i], x2[i])
        terms.append(0.5 * d**2 if similar[i] else 0.5 * max(0.0, margin - d) ** 2)
    expected = sum(terms) / len(terms)
    assert contrastive_margin(x1, x2, similar, margin).item() == pytest.approx(expected, abs=1e-5)


def test_triplet_matches_loop(rows):
    a, p, n = rows
    margin = 0.5
    terms = [max(0.0, _dist(a[i], p[i]) - _dist(a[i], n[i]) + margin) for i in range(len(a))]
    assert triplet(a, p, n, margin).item() == pytest.approx(sum(terms) / len(terms), abs=1e-5)


def test_n_pair_matches_loop(rows):
    a, p, _ = rows
    total = 0.0
    for i in range(len(a)):
        logits = [float(a[i] @ p[j]) for j in range(len(p))]
        total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    assert n_pair(a, p).item() == pytest.approx(total / len(a), abs=1e-5)


# ---- properties ------------------------------------------------------------------------------


def test_info_nce_symmetric_in_views(rows):
    a, b, _ = rows
    assert info_nce(a, b).item() == pytest.approx(info_nce(b, a).item(), abs=1e-6)


def test_info_nce_aligned_views_score_lower():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(16, 32, generator=g)
    assert info_nce(a, a).item() < info_nce(a, torch.randn(16, 32, generator=g)).item()


def test_info_nce_scale_invariant_and_finite_gradient(rows):
    a, b, _ = rows
    assert info_nce(3 * a, b).item() == pytest.approx(info_nce(a, b).item(), abs=1e-5)
    a = a.clone().requires_grad_()
    info_nce(a, b).backward()
    assert torch.isfinite(a.grad).all()


def test_negative_cosine_stops_gradient_to_z(rows):
    p, z, _ = rows
    p, z = p.clone().requires_grad_(), z.clone().requires_grad_()
    negative_cosine(p, z).backward()
    assert z.grad is None
    assert p.grad is not None and p.grad.abs().sum() > 0


def test_contrastive_margin_all_similar_is_half_mean_square_distance(rows):
    x1, x2, _ = rows
    similar = torch.ones(len(x1), dtype=torch.bool)
    expected = 0.5 * F.pairwise_distance(x1, x2, eps=0).pow(2).mean()
    assert contrastive_margin(x1, x2, similar).item() == pytest.approx(expected.item(), abs=1e-5)


def test_distance_losses_have_finite_gradient_at_zero_distance():
    x = torch.randn(3, 4)
    x1 = x.clone().requires_grad_()
    contrastive_margin(x1, x.clone(), torch.tensor([True, False, True])).backward()
    assert torch.isfinite(x1.grad).all()
    a = x.clone().requires_grad_()
    triplet(a, x.clone(), x.clone() + 1).backward()
    assert torch.isfinite(a.grad).all()
