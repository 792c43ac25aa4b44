"""What the benchmark scripts share: the device they measured, and one JSON schema for every result
file in benchmarks/results/: date, device, commit, command, torch, measurements, notes."""
from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def device_name() -> str:
    """The GPU's name, or the CPU's model, the vector instructions torch's kernels use (the same VM
    runs on AVX2 and AVX-512 hosts, and its figures differ with them) and the number of threads."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return (f"{model or platform.processor() or 'cpu'}, {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} threads")


def commit() -> str:
    """The checkout's commit, with '+changes' when its tracked files differ from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def write_result(name: str, measurements: dict, notes: list[str] = (), command: str | None = None,
                 out: str | Path | None = None) -> Path:
    """benchmarks/results/DATE-NAME.json (or ``out``) in the one schema; returns its path."""
    import torch

    date = datetime.date.today().isoformat()
    result = {"date": date, "device": device_name(), "commit": commit(),
              "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "torch": torch.__version__,
              "measurements": measurements, "notes": list(notes)}
    path = Path(out) if out else RESULTS / f"{date}-{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def textssl(*args, env: dict | None = None, pythonpath: str | None = None) -> str:
    """Run ``python -m textssl ARGS`` (the checkout's code, or the one at ``pythonpath``); its stdout. A
    failure stops the benchmark with the command and the end of its stderr."""
    import os

    environment = {**os.environ, **(env or {})}
    if pythonpath:
        environment["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "textssl", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def finished(run: str | Path) -> bool:
    """A run directory that holds its metrics: a benchmark run again skips it."""
    return (Path(run) / "metrics.json").is_file()


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def finetuned(out: Path, options: list, test: Path, pythonpath: str | None = None) -> tuple[dict, dict]:
    """(metrics.json, test.json) of ``textssl finetune --out OUT OPTIONS --no-progress`` evaluated on ``test``;
    the run and its evaluation are skipped when a benchmark run again finds them done."""
    if not finished(out):
        textssl("finetune", "--out", out, *options, "--no-progress", pythonpath=pythonpath)
    if not (out / "test.json").is_file():
        textssl("evaluate", out, "--data", test, "--json", out / "test.json", pythonpath=pythonpath)
    return read_json(out / "metrics.json"), read_json(out / "test.json")
