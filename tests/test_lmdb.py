import io
import multiprocessing
import os
import pickle

import lmdb
import pytest
from PIL import Image

from textssl.data.lmdb_io import LmdbReader, write_lmdb
from textssl.errors import UserError


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 4), value).save(buffer, format="PNG")
    return buffer.getvalue()


def test_round_trip_across_transactions(tmp_path):
    samples = [(b"img%d" % i, f"label {i} é") for i in range(1234)]
    assert write_lmdb(tmp_path / "db", iter(samples), total=len(samples)) == 1234
    reader = LmdbReader(tmp_path / "db")
    assert len(reader) == 1234 and reader.has_labels
    for i in (0, 999, 1000, 1233):
        assert reader.image_bytes(i) == samples[i][0]
        assert reader.label(i) == samples[i][1]
    with pytest.raises(IndexError):
        reader.image_bytes(1234)
    assert sorted(os.listdir(tmp_path)) == ["db"]  # no temporary sibling left behind


def test_unlabeled(tmp_path):
    write_lmdb(tmp_path / "db", [(_png(i), None) for i in range(5)])
    reader = LmdbReader(tmp_path / "db")
    assert len(reader) == 5 and not reader.has_labels
    assert reader.label(2) is None
    assert reader.image_bytes(2) == _png(2)
    reader.close()  # py-lmdb refuses a second open of one environment in a process
    with lmdb.open(str(tmp_path / "db"), readonly=True, lock=False) as env, env.begin() as txn:
        assert txn.get(b"label-000000001") is None
        assert txn.get(b"num-samples") == b"5"


def test_data_mdb_path_and_two_readers(tmp_path):
    write_lmdb(tmp_path / "db", [(b"x", "a"), (b"y", "b")])
    by_dir = LmdbReader(tmp_path / "db")
    by_file = LmdbReader(tmp_path / "db" / "data.mdb")
    assert by_file.label(1) == "b"
    by_dir.close()
    assert by_file.image_bytes(0) == b"x"


def test_writes_into_empty_existing_dir(tmp_path):
    (tmp_path / "db").mkdir()
    write_lmdb(tmp_path / "db", [(b"x", "a")])
    assert len(LmdbReader(tmp_path / "db")) == 1


def test_refuses_non_empty_dir_and_file(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UserError, match="full"):
        write_lmdb(tmp_path / "full", [(b"x", "a")])
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="file"):
        write_lmdb(tmp_path / "file", [(b"x", "a")])


def test_failed_write_leaves_nothing(tmp_path):
    def samples():
        yield b"x", "a"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_lmdb(tmp_path / "db", samples())
    assert os.listdir(tmp_path) == []


def test_reads_clovaai_style_lmdb(tmp_path):
    """Imitates clovaai/deep-text-recognition-benchmark create_lmdb_dataset.py."""
    images = []
    for i, fmt in enumerate(["PNG", "JPEG", "PNG", "JPEG", "PNG"]):
        buffer = io.BytesIO()
        Image.new("RGB", (20, 10), (i * 40, 0, 0)).save(buffer, format=fmt)
        images.append(buffer.getvalue())
    labels = ["Hello", "wörld", "123", "a b", "Z"]
    def write_cache(env, cache):
        with env.begin(write=True) as txn:
            for k, v in cache.items():
                txn.put(k, v)

    env = lmdb.open(str(tmp_path / "clova"), map_size=1 << 30)
    cache, cnt = {}, 1
    for image, label in zip(images, labels):
        cache["image-%09d".encode() % cnt] = image
        cache["label-%09d".encode() % cnt] = label.encode()
        if cnt % 2 == 0:  # clovaai flushes every 1000
            write_cache(env, cache)
            cache = {}
        cnt += 1
    cache["num-samples".encode()] = str(cnt - 1).encode()
    cache[b"extra-key"] = b"ignored"
    write_cache(env, cache)
    env.close()

    reader = LmdbReader(tmp_path / "clova")
    assert len(reader) == 5 and reader.has_labels
    assert [reader.label(i) for i in range(5)] == labels
    assert [reader.image_bytes(i) for i in range(5)] == images
    Image.open(io.BytesIO(reader.image_bytes(1))).load()


def _read_label(args):
    reader, index = args
    return reader.label(index)


def test_pickle_and_worker_processes(tmp_path):
    write_lmdb(tmp_path / "db", [(b"x%d" % i, str(i)) for i in range(6)])
    reader = LmdbReader(tmp_path / "db")
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.label(5) == "5" and len(clone) == 6
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_read_label, [(reader, i) for i in range(6)]) == [str(i) for i in range(6)]


def test_missing_path(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(UserError, match=f"no such file or directory: {path}"):
        LmdbReader(path)


def test_plain_directory(tmp_path):
    with pytest.raises(UserError, match=f"{tmp_path} is not an LMDB dataset"):
        LmdbReader(tmp_path)


def test_random_file(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(os.urandom(20000))
    with pytest.raises(UserError, match=f"{path} is not an LMDB dataset"):
        LmdbReader(path)


def test_truncated_data_mdb(tmp_path):
    write_lmdb(tmp_path / "db", [(os.urandom(3000), str(i)) for i in range(100)])
    data = tmp_path / "db" / "data.mdb"
    os.truncate(data, os.path.getsize(data) // 2)
    with pytest.raises(UserError, match=f"{tmp_path / 'db'}: truncated or corrupt LMDB"):
        LmdbReader(tmp_path / "db")


def test_lmdb_without_num_samples(tmp_path):
    with lmdb.open(str(tmp_path / "db")) as env, env.begin(write=True) as txn:
        txn.put(b"image-000000001", b"x")
    with pytest.raises(UserError, match=f"{tmp_path / 'db'} .*num-samples"):
        LmdbReader(tmp_path / "db")


def test_num_samples_beyond_last_image(tmp_path):
    with lmdb.open(str(tmp_path / "db")) as env, env.begin(write=True) as txn:
        txn.put(b"image-000000001", b"x")
        txn.put(b"num-samples", b"3")
    with pytest.raises(UserError, match="image-000000003"):
        LmdbReader(tmp_path / "db")
