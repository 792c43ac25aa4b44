#!/usr/bin/env bash
# The accuracy measurements behind benchmarks/results/*-accuracy.json, on one CPU machine:
#   supervised CRNN on 10,000 labeled captchas;
#   SeqCLR on 50,000 unlabeled captchas (about 10 minutes), then two-stage fine-tuning on 1,000
#   labels, against the supervised baseline on the same 1,000 labels; each arm at its best
#   learning rate on validation;
#   the same comparison for the classic CRNN (--no-shortcut);
#   SimSiam's collapse indicator over a pretraining run.
# Every finished run is kept and skipped on a second call; the last step writes the JSON.
#
#   benchmarks/accuracy.sh [WORKDIR]      (default: runs/accuracy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-runs/accuracy}
mkdir -p "$work" && cd "$work"

data() { [ -d "$1" ] || textssl data captcha "$1" --count "$2" --seed "$3" ${4:-} > /dev/null; }
data test2k 2000 3 --labeled
data val1k 1000 2 --labeled
data lab10k 10000 1 --labeled
data unl50k 50000 4

finetune() {  # OUT [options...]: fine-tune, then evaluate on the test set
  local out=$1; shift
  [ -f "$out/test.json" ] && return
  rm -rf "$out"
  textssl finetune --train lab10k --val val1k --out "$out" --batch-size 64 --no-progress "$@" > "$out.log" 2>&1
  textssl evaluate "$out" --data test2k --json "$out/test.json" > /dev/null
}
pretrain() {  # OUT [options...]
  local out=$1; shift
  [ -f "$out/metrics.json" ] && return
  rm -rf "$out"
  textssl pretrain --data unl50k --out "$out" --batch-size 128 --no-progress "$@" > "$out.log" 2>&1
}

finetune sup-10k --epochs 20 --lr 3e-3 --strength 0.5 --val-every 500

pretrain seqclr --method seqclr --max-steps 1000
few="--num-labels 1000 --max-steps 2000 --strength 0.5 --val-every 250"
for shortcut in shortcut no-shortcut; do
  # each arm's learning rate is chosen on validation; the classic CRNN gets the shorter grids
  # (neither arm left the plateau there)
  lr_whole="1e-3 3e-3 1e-2 3e-2"; [ "$shortcut" = shortcut ] || lr_whole="1e-3"
  for lrw in $lr_whole; do
    finetune "seqclr-1000-$shortcut-lrw$lrw" $few --init seqclr --protocol two-stage --head-steps 200 --lr 3e-3 \
      --lr-whole "$lrw" --"$shortcut"
  done
  lrs="1e-2 3e-3 1e-3 3e-4"; [ "$shortcut" = shortcut ] || lrs="3e-3 1e-3 3e-4"
  for lr in $lrs; do
    finetune "sup-1000-$shortcut-lr$lr" $few --lr "$lr" --"$shortcut"
  done
done

pretrain simsiam --method simsiam --max-steps 600

python "$here/collect_accuracy.py" . --out "$here/results/$(date +%F)-cpu-accuracy.json"
