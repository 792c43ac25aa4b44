import string

import pytest

from textssl.data.charset import PRESETS, Charset
from textssl.models.decoders.ctc import CTCDecoder
from textssl.errors import UserError

PRESET_SIZES = {"digits": 10, "captcha": 36, "lower36": 36, "mixed62": 62, "full94": 94}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_round_trip(name):
    charset = Charset.from_spec(name)
    assert charset.name == name
    assert len(charset) == PRESET_SIZES[name]
    decoder = CTCDecoder(charset, 8)  # the blank is the CTC decoder's class 0, the characters 1..N
    assert decoder.num_classes == PRESET_SIZES[name] + 1
    ids, lengths = decoder.targets([charset.chars])
    assert ids.tolist() == list(range(1, len(charset) + 1)) and lengths.tolist() == [len(charset)]


def test_full94_is_printable_ascii_without_whitespace():
    chars = PRESETS["full94"]
    assert not any(c in string.whitespace for c in chars)
    assert set(chars) == {chr(i) for i in range(33, 127)}


def test_captcha_preset_is_digits_and_uppercase():
    assert PRESETS["captcha"] == string.digits + string.ascii_uppercase


def test_literal_chars_spec():
    charset = Charset.from_spec("chars:xyz€")
    assert charset.name == "custom"
    assert charset.chars == "xyz€"
    assert charset.invalid_chars("z€xq") == "q" and "€" in charset


def test_file_spec_one_string(tmp_path):
    path = tmp_path / "chars.txt"
    path.write_text("abcДЖ\n", encoding="utf-8")
    charset = Charset.from_spec(str(path))
    assert charset.chars == "abcДЖ"
    assert charset.invalid_chars("Жa") == ""


def test_file_spec_one_char_per_line(tmp_path):
    path = tmp_path / "chars.txt"
    path.write_text("a\nb\r\nc\n", encoding="utf-8")
    assert Charset.from_spec(str(path)).chars == "abc"


def test_file_with_duplicate_names_file_and_char(tmp_path):
    path = tmp_path / "chars.txt"
    path.write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"chars\.txt.*'a'"):
        Charset.from_spec(str(path))


def test_non_utf8_file(tmp_path):
    path = tmp_path / "chars.bin"
    path.write_bytes(b"ab\xff\xfe")
    with pytest.raises(UserError, match="not UTF-8"):
        Charset.from_spec(str(path))


def test_unknown_spec_message():
    with pytest.raises(UserError) as error:
        Charset.from_spec("foo")
    assert str(error.value) == (
        "unknown charset 'foo': use digits, captcha, lower36, mixed62, full94, a file path or chars:ABC"
    )


def test_empty_and_duplicate_chars():
    with pytest.raises(UserError, match="empty"):
        Charset("")
    with pytest.raises(UserError, match="'b'"):
        Charset("abcb")


def test_bad_characters_are_named():
    charset = Charset.from_spec("captcha")
    with pytest.raises(UserError, match=r"'a#'"):
        CTCDecoder(charset, 8).targets(["AB1a#a"])
    assert charset.invalid_chars("AB1a#a") == "a#"
    assert charset.invalid_chars("AB1") == ""
