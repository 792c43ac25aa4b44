"""Every committed benchmark result speaks the one schema of benchmarks/benchmarks_common.py."""
import datetime
import json
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
FILES = sorted(RESULTS.glob("*.json"))  # archive/ holds the files of earlier schemas, as they were written
SCHEMA = {"date", "device", "commit", "command", "torch", "measurements", "notes"}


def test_there_are_results():
    assert FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_result_file_has_the_schema_and_its_date_in_its_name(path):
    result = json.loads(path.read_text())
    assert set(result) == SCHEMA
    datetime.date.fromisoformat(result["date"])
    assert path.name.startswith(result["date"] + "-")
    assert result["device"] and result["command"] and isinstance(result["notes"], list)
    assert isinstance(result["measurements"], dict) and result["measurements"]
