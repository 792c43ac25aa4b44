"""Commit a finished study as a benchmark result: benchmarks/results/DATE-DEVICE-PRESET.json (the one
schema; measurements = the study's results.json, with its wall time) and DATE-DEVICE-PRESET/ beside it
(results.md and accuracy.png).

    python benchmarks/study_result.py STUDY_DIR [--started "ISO time"] [--note TEXT]...
"""
from __future__ import annotations

import argparse
import datetime
import json
import shutil
from pathlib import Path

from benchmarks_common import RESULTS, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="a finished study folder (results.json, results.md, accuracy.png)")
    parser.add_argument("--note", action="append", default=[], help="a note to keep beside the figures")
    args = parser.parse_args()
    study = Path(args.study)
    results = json.loads((study / "results.json").read_text())
    preset = json.loads((study / "preset.json").read_text())
    device = "cuda" if __import__("torch").cuda.is_available() else "cpu"
    name = f"{device}-{results['preset']}"
    folder = RESULTS / f"{datetime.date.today().isoformat()}-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("results.md", "accuracy.png"):
        shutil.copyfile(study / part, folder / part)
    path = write_result(name, {"preset": preset, **results}, notes=[
        f"textssl study --preset {results['preset']}; its report: {folder.name}/results.md and accuracy.png",
        "seconds: the wall time of the last `textssl study` call (finished pieces are reused, not timed again)",
        *args.note], command=f"textssl study --preset {results['preset']} --out STUDY")
    print(path)


if __name__ == "__main__":
    main()
