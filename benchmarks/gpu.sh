#!/usr/bin/env bash
# The GPU presets in one prepared run (for the device tool; any CUDA machine with textssl's packages):
# the captcha-vit study, its result in the benchmark schema, the MAE and DiG reconstructions, then the
# throughput benchmark. Everything worth keeping goes to OUT (at most 8 files).
#     bash benchmarks/gpu.sh OUT [STUDY_SECONDS] [THROUGHPUT_SECONDS]
set -u
out=${1:?usage: benchmarks/gpu.sh OUT [STUDY_SECONDS] [THROUGHPUT_SECONDS]}
study_seconds=${2:-420}
throughput_seconds=${3:-150}
preset=${PRESET:-captcha-vit}
export PYTHONUNBUFFERED=1 PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
study=/tmp/captcha-vit
start=$(date +%s)
timeout "$study_seconds" python3 -m textssl study --preset "$preset" --out "$study" --no-progress > "$out/study.log" 2>&1
echo "study exit status $? after $(( $(date +%s) - start )) s" | tee -a "$out/study.log"
if [ -f "$study/results.json" ]; then
    result=$(cd benchmarks && python3 study_result.py "$study" --note "benchmarks/gpu.sh on the device tool's machine")
    mkdir -p "$out/result"
    cp "$result" "${result%.json}/results.md" "${result%.json}/accuracy.png" "$out/result/"
fi
for method in mae dig; do
    cp "$study/pretrain/$method/reconstructions.png" "$out/$method-reconstructions.png" 2>/dev/null
done
tar czf "$out/study.tgz" --exclude='*.mdb' --exclude='*.ckpt' --exclude='*.safetensors' -C /tmp captcha-vit
timeout "$throughput_seconds" python3 benchmarks/throughput.py --steps 20 --rounds 1 --out "$out/throughput.json" \
    > /dev/null 2>&1
echo "throughput exit status $?"
