"""LMDB datasets in the clovaai / parseq layout.

Keys: ``image-%09d`` (encoded image file bytes), ``label-%09d`` (UTF-8 text, absent in an
unlabeled dataset), both 1-indexed, and ``num-samples`` (ASCII decimal). textssl adds ``charset``
(UTF-8, the characters the labels are drawn from) to the labeled datasets it writes; other toolkits
ignore the key, and an LMDB without it is read as before.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable

import lmdb
from tqdm import tqdm

from textssl.errors import UserError

NUM_SAMPLES_KEY = b"num-samples"
CHARSET_KEY = b"charset"
DEFAULT_MAP_SIZE = 1 << 40  # 1 TiB of address space; the file itself grows only as written
SAMPLES_PER_TXN = 1000


def image_key(index: int) -> bytes:
    """Key of the 0-based sample ``index``."""
    return b"image-%09d" % (index + 1)


def label_key(index: int) -> bytes:
    return b"label-%09d" % (index + 1)


def write_lmdb(
    path,
    samples: Iterable[tuple[bytes, str | None]],
    *,
    map_size: int = DEFAULT_MAP_SIZE,
    total: int | None = None,
    progress: bool = False,
    charset: str | Callable[[], str] | None = None,
) -> int:
    """Write ``(image_bytes, label_or_None)`` pairs to a new LMDB directory; return the count.
    ``charset``: the characters of the labels' alphabet (or a function giving them once every sample
    is written), stored under ``charset``.

    The data goes to a temporary sibling directory that is renamed to ``path`` at the end,
    so a failed or interrupted write never leaves a partial dataset under the final name.
    """
    def records():
        labeled = None
        for count, (image, label) in enumerate(samples):
            if labeled is None:
                labeled = label is not None
            elif labeled != (label is not None):
                raise ValueError(f"sample {count + 1}: a dataset is either fully labeled or unlabeled")
            yield {b"image": bytes(image)} if label is None else {b"image": bytes(image), b"label": label.encode("utf-8")}

    def metadata():
        chars = charset() if callable(charset) else charset
        return {CHARSET_KEY: chars.encode("utf-8")} if chars else {}

    return write_records(path, records(), map_size=map_size, total=total, progress=progress, metadata=metadata)


def write_records(path, records: Iterable[dict[bytes, bytes]], *, map_size: int = DEFAULT_MAP_SIZE,
                  total: int | None = None, progress: bool = False,
                  metadata: Callable[[], dict[bytes, bytes]] | None = None) -> int:
    """Write records (``{b"image": ..., b"label": ...}``: each value under its name-%09d key, 1-indexed)
    and ``num-samples`` to a new LMDB directory, atomically as ``write_lmdb``; return the count.
    ``metadata()`` gives the dataset-wide keys once every record is written."""
    path = os.path.abspath(os.fspath(path))
    _check_output_path(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.partial-", dir=parent)
    try:
        count = _write_env(tmp, records, map_size, total, progress, metadata)
        if os.path.isdir(path):
            os.rmdir(path)  # an empty directory (checked above) is replaced
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count


def _check_output_path(path: str) -> None:
    if os.path.isdir(path):
        if os.listdir(path):
            raise UserError(f"output directory is not empty: {path}")
    elif os.path.lexists(path):
        raise UserError(f"output path exists and is not a directory: {path}")


def _write_env(directory: str, records, map_size: int, total: int | None, progress: bool, metadata) -> int:
    try:
        env = lmdb.open(directory, map_size=map_size, subdir=True, meminit=False)
    except lmdb.Error as e:
        raise UserError(f"cannot create LMDB in {directory} ({e})") from None
    count = 0
    bar = tqdm(total=total, unit="img", file=sys.stderr, disable=not progress, desc="writing")
    try:
        txn = env.begin(write=True)
        for record in records:
            count += 1
            for name, value in record.items():
                txn.put(b"%s-%09d" % (name, count), value)
            bar.update(1)
            if count % SAMPLES_PER_TXN == 0:
                txn.commit()
                txn = env.begin(write=True)
        txn.put(NUM_SAMPLES_KEY, str(count).encode("ascii"))
        for key, value in (metadata() if metadata else {}).items():
            txn.put(key, value)
        txn.commit()
        env.sync()
    except lmdb.MapFullError:
        raise UserError(f"LMDB map_size {map_size} bytes is too small for the data written to {directory}") from None
    except lmdb.Error as e:
        raise UserError(f"error writing LMDB {directory} ({e})") from None
    finally:
        bar.close()
        env.close()
    return count


class LmdbReader:
    """Read-only random access to an LMDB dataset (a directory or its ``data.mdb`` file).

    Picklable: the environment is not pickled but opened on first use in the new process.
    py-lmdb refuses to open one environment twice in a process (a forked DataLoader worker
    included), so readers of the same file share one environment from a process-wide table;
    a forked worker keeps using the one it inherited, which is safe read-only without locks.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._subdir, self._data_file = locate(self.path)
        self._env = None
        self._env_key = None
        _check_not_truncated(self.path, self._get_env(), self._data_file)
        self._length = self._read_num_samples()
        if self._length > 0 and self._get(image_key(self._length - 1)) is None:
            raise UserError(
                f"{self.path}: truncated or corrupt LMDB (num-samples is {self._length} "
                f"but key {image_key(self._length - 1).decode()} is missing)"
            )
        self.has_labels = self._length > 0 and self._get(label_key(0)) is not None
        self.charset = self._read_charset()

    def __len__(self) -> int:
        return self._length

    def image_bytes(self, index: int) -> bytes:
        """Encoded image of the 0-based sample ``index``."""
        key = image_key(self._check_index(index))
        value = self._get(key)
        if value is None:
            raise UserError(f"{self.path}: key {key.decode()} is missing")
        return value

    def label(self, index: int) -> str | None:
        """Label of the 0-based sample ``index``; None in an unlabeled dataset."""
        if not self.has_labels:
            return None
        key = label_key(self._check_index(index))
        value = self._get(key)
        if value is None:
            raise UserError(f"{self.path}: key {key.decode()} is missing")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{self.path}: key {key.decode()} is not UTF-8 text") from None

    def value(self, key: bytes) -> bytes | None:
        """The raw value of ``key`` (another record's or a dataset-wide key), or None."""
        return self._get(key)

    def close(self) -> None:
        if self._env_key is not None:
            _release_env(self._env_key)
        self._env = None
        self._env_key = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_env"] = None
        state["_env_key"] = None
        return state

    def __repr__(self) -> str:
        return f"LmdbReader({self.path!r}, {self._length} samples, labeled={self.has_labels})"

    def _check_index(self, index: int) -> int:
        if not 0 <= index < self._length:
            raise IndexError(f"index {index} out of range for {self._length} samples in {self.path}")
        return index

    def _get_env(self) -> lmdb.Environment:
        if self._env is None:
            self._env_key, self._env = _acquire_env(self.path, self._subdir, self._data_file)
        return self._env

    def _get(self, key: bytes) -> bytes | None:
        try:
            with self._get_env().begin(write=False) as txn:
                return txn.get(key)
        except lmdb.Error as e:
            raise UserError(f"{self.path}: truncated or corrupt LMDB ({_short(e)})") from None

    def _read_charset(self) -> str | None:
        """The characters stored under ``charset`` by textssl, or None (another toolkit's LMDB)."""
        raw = self._get(CHARSET_KEY)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{self.path}: key charset is not UTF-8 text") from None

    def _read_num_samples(self) -> int:
        raw = self._get(NUM_SAMPLES_KEY)
        if raw is None:
            raise UserError(f"{self.path} is not an LMDB dataset (no num-samples key)")
        try:
            n = int(raw.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            raise UserError(f"{self.path}: num-samples is not a number ({raw[:20]!r})") from None
        if n < 0:
            raise UserError(f"{self.path}: num-samples is negative ({n})")
        return n


# (st_dev, st_ino) of a data file -> [environment, number of readers using it, pid that opened it]
_OPEN_ENVS: dict[tuple[int, int], list] = {}


def _acquire_env(path: str, subdir: bool, data_file: str) -> tuple[tuple[int, int], lmdb.Environment]:
    try:
        st = os.stat(data_file)
    except OSError as e:
        raise UserError(f"LMDB dataset: cannot open {data_file}: {e.strerror}") from None
    key = (st.st_dev, st.st_ino)
    entry = _OPEN_ENVS.get(key)
    if entry is None:
        try:
            env = lmdb.open(
                path, subdir=subdir, readonly=True, lock=False,
                readahead=False, meminit=False, max_readers=1024,
            )
        except lmdb.Error as e:
            raise UserError(f"{path} is not an LMDB dataset ({_short(e)})") from None
        entry = _OPEN_ENVS[key] = [env, 0, os.getpid()]
    entry[1] += 1
    return key, entry[0]


def _release_env(key: tuple[int, int]) -> None:
    entry = _OPEN_ENVS.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _OPEN_ENVS[key]
        if entry[2] == os.getpid():  # an environment inherited through fork is left alone
            entry[0].close()


def locate(path: str) -> tuple[bool, str]:
    """Return (subdir, data file) for a dataset directory or a ``data.mdb`` file."""
    if os.path.isdir(path):
        data_file = os.path.join(path, "data.mdb")
        if not os.path.isfile(data_file):
            raise UserError(f"{path} is not an LMDB dataset (no data.mdb in the directory)")
        return True, data_file
    if os.path.isfile(path):
        return False, path
    raise UserError(f"LMDB dataset: no such file or directory: {path}")


def _check_not_truncated(path: str, env: lmdb.Environment, data_file: str) -> None:
    # Reading a page past the end of a memory-mapped file kills the process with SIGBUS
    # instead of raising, so compare the file size with the last page the meta page names.
    try:
        needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    except lmdb.Error as e:
        raise UserError(f"{path}: truncated or corrupt LMDB ({_short(e)})") from None
    size = os.path.getsize(data_file)
    if size < needed:
        raise UserError(f"{path}: truncated or corrupt LMDB (data.mdb has {size} bytes, needs {needed})")


def _short(error: Exception) -> str:
    """One line of an lmdb error, without the path prefix that lmdb repeats."""
    text = " ".join(str(error).split())
    head, sep, rest = text.partition(": ")
    if sep and ("/" in head or os.path.exists(head)):
        text = rest
    return text[:200]
