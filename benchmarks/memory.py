"""Peak memory of pretraining against the number of unlabeled images: 200 SeqCLR steps on 50,000 and
on 800,000 captchas, streamed from the LMDB.

The smallest set is generated; the larger ones repeat its images (one LMDB entry per image, as many
entries as the size says; on this CPU generating 800,000 captchas would take most of an hour, and
what a streamed pretraining holds in memory depends on the number of entries, not on their pixels).

The command runs as a child process; every 0.1 s its process tree (the training process and its
data-loading workers) is read from /proc: the sum of the resident set sizes (RSS, which counts
memory shared between the processes once per process) and the sum of the proportional set sizes
(PSS, which splits it between them: the tree's real footprint), and the PSS split into anonymous
memory, pages of mapped files (the LMDB: page cache the kernel can drop) and shared memory. The
peaks are reported.

    python benchmarks/memory.py WORKDIR [--sizes 50000 800000] [--steps 200]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks_common import textssl, write_result


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


FIELDS = {"Rss:": "rss", "Pss:": "pss", "Pss_Anon:": "pss_anon", "Pss_File:": "pss_file", "Pss_Shmem:": "pss_shmem"}


def _tree_memory(root: int) -> dict[str, int]:
    """Bytes summed over ``root`` and its descendants: RSS, PSS and PSS split into anonymous memory,
    file-backed pages (the memory-mapped LMDB, libraries) and shared memory (batches between processes)."""
    tree, todo, total = _children(), [root], dict.fromkeys(FIELDS.values(), 0)
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, *value = line.split()
                if name in FIELDS:
                    total[FIELDS[name]] += int(value[0]) * 1024
        except OSError:  # the process ended meanwhile
            pass
    return total


def peak_memory(command: list[str]) -> dict:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = dict.fromkeys(FIELDS.values(), 0)
    started = time.time()
    while process.poll() is None:
        for key, value in _tree_memory(process.pid).items():
            peak[key] = max(peak[key], value)
        time.sleep(0.1)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read()[-2000:]}")
    return {**{f"peak_{key}_mib": round(value / 2**20, 1) for key, value in peak.items()},
            "seconds": round(time.time() - started, 1)}


def repeat(source: Path, out: Path, size: int) -> None:
    from textssl.data.lmdb_io import LmdbReader, write_lmdb

    reader = LmdbReader(source)
    write_lmdb(out, ((reader.image_bytes(i % len(reader)), None) for i in range(size)), total=size,
               map_size=4 * size * len(reader.image_bytes(0)) + 2**30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50000, 800000])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    measurements = {}
    smallest = args.work / f"unlabeled-{min(args.sizes)}"
    if not smallest.exists():
        textssl("data", "captcha", smallest, "--count", min(args.sizes), "--seed", 7)
    for size in args.sizes:
        data, run = args.work / f"unlabeled-{size}", args.work / f"pretrain-{size}-{os.getpid()}"
        if not data.exists():
            repeat(smallest, data, size)
        command = [sys.executable, "-m", "textssl", "pretrain", "--method", "seqclr", "--data", str(data), "--out",
                   str(run), "--max-steps", str(args.steps), "--batch-size", "128", "--no-progress"]
        measurements[str(size)] = {"images": size, "lmdb_mib": round((data / "data.mdb").stat().st_size / 2**20, 1),
                                   **peak_memory(command)}
        print(size, measurements[str(size)], flush=True)
    small, large = (measurements[str(n)] for n in (min(args.sizes), max(args.sizes)))
    measurements["ratio_largest_to_smallest"] = {key: round(large[key] / small[key], 3)
                                                 for key in small if key.startswith("peak_")}
    path = write_result("cpu-memory", measurements, notes=[
        f"textssl pretrain --method seqclr --max-steps {args.steps} --batch-size 128 (2 data-loading workers), "
        "default 128x32 captchas (the larger sets repeat the smallest's images); peaks of the process tree's summed RSS, PSS and PSS by kind (anonymous, file, shared), sampled every 0.1 s"])
    print(path)


if __name__ == "__main__":
    main()
