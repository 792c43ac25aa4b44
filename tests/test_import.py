import io

import pytest
from PIL import Image

from textssl.data.charset import Charset
from textssl.data.importer import import_labeled_folder, import_unlabeled_folder
from textssl.data.lmdb_io import LmdbReader
from textssl.errors import UserError

CHARSET = Charset.from_spec("captcha")


def _image_bytes(fmt: str, value: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 12), (value, value, 0)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    files = {
        "a.png": _image_bytes("PNG"),
        "sub/b.jpg": _image_bytes("JPEG", 30),
        "corrupt.png": b"\x89PNG\r\n\x1a\n not really a png",
        "cut.png": _image_bytes("PNG")[:60],
        "c.png": _image_bytes("PNG", 200),
    }
    for name, data in files.items():
        (images / name).write_bytes(data)
    rows = [
        b"a.png\tAB12",          # 1 good
        b"sub/b.jpg\tXYZ9",      # 2 good
        b"no tab here",          # 3 malformed
        b"missing.png\tAB",      # 4 image missing
        b"corrupt.png\tAB",      # 5 corrupt
        b"cut.png\tAB",          # 6 truncated
        b"a.png\t",              # 7 empty label
        b"a.png\tab#",           # 8 outside charset
        b"",                     # 9 blank: ignored
        b"a.png\t\xff\xfe",      # 10 not UTF-8
        b"c.png\tQ",             # 11 good
    ]
    labels = tmp_path / "gt.txt"
    labels.write_bytes(b"\n".join(rows) + b"\n")
    return images, labels, files


def test_good_rows_kept_bad_rows_reported(folder, tmp_path):
    images, labels, files = folder
    report = import_labeled_folder(tmp_path / "db", images, labels, CHARSET)
    assert report.kept == 3
    reasons = dict(report.skipped)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 10]
    assert "malformed" in reasons[3]
    assert "not found: missing.png" in reasons[4]
    assert "unreadable image corrupt.png" in reasons[5]
    assert "unreadable image cut.png" in reasons[6]
    assert "empty label" in reasons[7]
    assert "'ab#'" in reasons[8]
    assert "UTF-8" in reasons[10]

    reader = LmdbReader(tmp_path / "db")
    assert [reader.label(i) for i in range(3)] == ["AB12", "XYZ9", "Q"]
    assert reader.image_bytes(1) == files["sub/b.jpg"]  # original bytes, not re-encoded


def test_a_second_row_for_the_same_image_is_skipped(folder, tmp_path):
    images, _, _ = folder
    labels = tmp_path / "twice.txt"
    labels.write_text("a.png\tAB12\n./a.png\tXY\nc.png\tQ\n")
    report = import_labeled_folder(tmp_path / "db", images, labels, CHARSET)
    assert report.kept == 2 and report.skipped == [(2, "a.png already imported from line 1")]
    assert "BytesIO" not in dict(import_labeled_folder(tmp_path / "db2", *folder[:2], CHARSET).skipped)[5]


def test_missing_inputs(folder, tmp_path):
    images, labels, _ = folder
    with pytest.raises(UserError, match=f"images directory not found: {tmp_path / 'nope'}"):
        import_labeled_folder(tmp_path / "db", tmp_path / "nope", labels, CHARSET)
    with pytest.raises(UserError, match=f"labels file not found: {tmp_path / 'nope.txt'}"):
        import_labeled_folder(tmp_path / "db", images, tmp_path / "nope.txt", CHARSET)


def test_no_usable_rows(folder, tmp_path):
    images, _, _ = folder
    labels = tmp_path / "bad.txt"
    labels.write_text("missing.png\tAB\nno tab\n")
    with pytest.raises(UserError) as error:
        import_labeled_folder(tmp_path / "db", images, labels, CHARSET)
    assert str(error.value) == f"no usable rows in {labels} (2 skipped; line 1: image not found: missing.png)"
    assert not (tmp_path / "db").exists()


def test_a_path_that_leaves_the_images_folder_is_refused_per_row(folder, tmp_path):
    images, _, _ = folder
    (tmp_path / "outside.png").write_bytes(_image_bytes("PNG"))
    labels = tmp_path / "escape.txt"
    labels.write_text(f"../outside.png\tAB\n{tmp_path / 'outside.png'}\tAB\nsub/../a.png\tQ\n")
    report = import_labeled_folder(tmp_path / "db", images, labels, CHARSET)
    assert report.kept == 1 and report.skipped == [(1, "path leaves --images: ../outside.png"),
                                                   (2, f"path leaves --images: {tmp_path / 'outside.png'}")]


def test_labeled_import_stores_the_charset_given_or_that_of_its_labels(folder, tmp_path):
    images, labels, _ = folder
    import_labeled_folder(tmp_path / "given", images, labels, CHARSET)
    assert LmdbReader(tmp_path / "given").charset == CHARSET.chars
    report = import_labeled_folder(tmp_path / "found", images, labels)  # no charset: every label kept
    assert LmdbReader(tmp_path / "found").charset == report.charset == "129ABQXYZ"


def test_unlabeled_folder_every_image_under_it_and_the_unreadable_listed(folder, tmp_path):
    images, _, files = folder
    (images / "sub" / "deep").mkdir()
    frames = [Image.new("L", (20, 10), v) for v in (10, 240)]
    frames[0].save(images / "sub" / "deep" / "anim.GIF", save_all=True, append_images=frames[1:])
    Image.new("L", (20, 10), 99).save(images / "t.tiff")
    (images / "notes.txt").write_text("not an image")
    report = import_unlabeled_folder(tmp_path / "db", images, workers=2)
    assert report.kept == 5 and sorted(report.skipped) == [
        ("corrupt.png", "unreadable image: UnidentifiedImageError: cannot identify image file"),
        ("cut.png", report.skipped[[s[0] for s in report.skipped].index("cut.png")][1])]
    reader = LmdbReader(tmp_path / "db")
    assert len(reader) == 5 and not reader.has_labels and reader.charset is None
    assert reader.image_bytes(0) == files["a.png"] and report.images_per_second > 0  # sorted paths: a.png first


def test_unlabeled_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        import_unlabeled_folder(tmp_path / "db", tmp_path / "empty")
