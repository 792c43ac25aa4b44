"""What the benchmark scripts share: the name of the device they measured."""
from __future__ import annotations

import platform
from pathlib import Path

import torch


def device_name() -> str:
    """The GPU's name, or the CPU's model, the vector instructions torch's kernels use (the same VM
    runs on AVX2 and AVX-512 hosts, and its figures differ with them) and the number of threads."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return (f"{model or platform.processor() or 'cpu'}, {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} threads")
