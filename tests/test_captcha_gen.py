import io

import pytest
from captcha.image import ImageCaptcha
from PIL import Image

from textssl.data import captcha_gen
from textssl.data.captcha_gen import CaptchaStyle, generate_captchas, render_captcha
from textssl.data.charset import PRESETS
from textssl.data.lmdb_io import LmdbReader
from textssl.errors import UserError


def _contents(path):
    reader = LmdbReader(path)
    return [(reader.image_bytes(i), reader.label(i)) for i in range(len(reader))]


@pytest.fixture(scope="module")
def seed0(tmp_path_factory):
    path = tmp_path_factory.mktemp("captcha") / "seed0"
    result = generate_captchas(path, 40, labeled=True, seed=0, workers=2, progress=False)
    assert result["count"] == 40 and result["path"] == str(path)
    assert result["images_per_second"] > 0
    return _contents(path)


def test_same_seed_same_bytes_whatever_the_workers(seed0, tmp_path):
    generate_captchas(tmp_path / "again", 40, labeled=True, seed=0, workers=1, progress=False)
    assert _contents(tmp_path / "again") == seed0


def test_sample_depends_only_on_seed_and_index(seed0, tmp_path):
    generate_captchas(tmp_path / "few", 3, labeled=True, seed=0, workers=1, progress=False)
    assert _contents(tmp_path / "few") == seed0[:3]


def test_different_seed_differs(seed0, tmp_path):
    generate_captchas(tmp_path / "seed1", 40, labeled=True, seed=1, workers=1, progress=False)
    other = _contents(tmp_path / "seed1")
    assert all(a[0] != b[0] for a, b in zip(seed0, other))
    assert [s[1] for s in seed0] != [s[1] for s in other]


def test_labels_and_images(seed0):
    labels = [label for _, label in seed0]
    assert {len(label) for label in labels} == {4, 5}
    assert all(set(label) <= set(PRESETS["captcha"]) for label in labels)
    image = Image.open(io.BytesIO(seed0[0][0]))
    assert image.format == "PNG" and image.mode == "L" and image.size == (128, 32)


def test_unlabeled_custom_charset_and_size(tmp_path):
    generate_captchas(tmp_path / "u", 12, labeled=False, charset="digits", min_len=3, max_len=3,
                      width=100, height=32, workers=1, progress=False)
    reader = LmdbReader(tmp_path / "u")
    assert len(reader) == 12 and not reader.has_labels
    assert Image.open(io.BytesIO(reader.image_bytes(0))).size == (100, 32)
    style = CaptchaStyle("0123456789", 3, 3, 100, 32, (22, 27, 30), (100, 32))
    texts = [render_captcha(style, 0, i)[1] for i in range(12)]
    assert all(len(t) == 3 and t.isdigit() for t in texts)


def test_fast_renderer_matches_python_captcha(monkeypatch):
    style = CaptchaStyle(PRESETS["captcha"], 4, 5, 128, 48, (34, 40, 45), (128, 48))
    fast = [render_captcha(style, 7, i) for i in range(10)]
    monkeypatch.setattr(captcha_gen, "_Captcha", ImageCaptcha)
    monkeypatch.setattr(captcha_gen, "_style", None)
    assert [render_captcha(style, 7, i) for i in range(10)] == fast


def test_render_size_draws_at_that_size_with_python_captchas_fonts_then_resizes(tmp_path):
    generate_captchas(tmp_path / "n", 3, labeled=True, seed=5, width=100, height=32, render_size=(160, 60),
                      workers=1, progress=False)
    reader = LmdbReader(tmp_path / "n")
    own = ImageCaptcha()  # python-captcha's own size and fonts: 160x60, 42 / 50 / 56
    native = CaptchaStyle(PRESETS["captcha"], 4, 5, 160, 60, tuple(own._font_sizes), (own._width, own._height))
    for i in range(3):
        png, text = render_captcha(native, 5, i)
        expected = Image.open(io.BytesIO(png)).resize((100, 32), Image.BILINEAR)
        stored = Image.open(io.BytesIO(reader.image_bytes(i)))
        assert reader.label(i) == text and stored.size == (100, 32)
        assert stored.tobytes() == expected.tobytes()


def test_bad_options(tmp_path):
    with pytest.raises(UserError, match="count"):
        generate_captchas(tmp_path / "x", 0, labeled=True, progress=False)
    with pytest.raises(UserError, match="min_len"):
        generate_captchas(tmp_path / "x", 4, labeled=True, min_len=5, max_len=4, progress=False)
    with pytest.raises(UserError, match="unknown charset 'nope'"):
        generate_captchas(tmp_path / "x", 4, labeled=True, charset="nope", progress=False)
    with pytest.raises(UserError, match="--render-size"):
        generate_captchas(tmp_path / "x", 4, labeled=True, render_size=(160,), progress=False)
    assert not (tmp_path / "x").exists()
