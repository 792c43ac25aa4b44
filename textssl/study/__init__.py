"""Studies: presets (preset.py), the runner that trains and evaluates every cell (runner.py) and the
report (report.py). Above train/ and eval/: nothing below imports them."""
