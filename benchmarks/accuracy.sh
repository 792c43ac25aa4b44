#!/usr/bin/env bash
# The accuracy measurements behind benchmarks/results/*-accuracy.json, on one CPU machine:
#   supervised CRNN on 10,000 labeled captchas;
#   SeqCLR on 50,000 unlabeled captchas (about 10 minutes), then two-stage fine-tuning on 1,000
#   labels, against the supervised baseline on the same 1,000 labels; each arm at its best
#   learning rate on validation;
#   the same comparison for the classic CRNN (--no-shortcut);
#   both recognizers again at the 3,000 fine-tuning steps of DESIGN's 2-core trial, and the
#   classic CRNN fine-tuned on the seqclr views at full strength;
#   SeqCLR pretrained and both recognizers fine-tuned on the trial's own views (seqclr-light:
#   no perspective, speckle or sharpening);
#   SeqCLR against supervised at shorter fine-tuning budgets (250 / 500 / 1,000 steps), where the
#   supervised arm may not yet have left CTC's all-blank plateau;
#   SeqCLR's variants (instance mapping, features, views, protocol, pretraining length, fine-tuning
#   length and view strength) and SimCLR and SimSiam at the demo's scale, on 250 labels;
#   SimSiam's collapse indicator over a pretraining run;
#   DESIGN's 2-core trial (run it with WIDTH=100 RENDER=160x60): SeqCLR on the trial's views, then the
#   classic CRNN and the shortcut CRNN fine-tuned 3,000 steps on 1,000 labels on those views, each
#   arm on its own learning-rate grid (the classic CRNN's at warm-ups 0.05 and 0.2).
# Every finished run is kept and skipped on a second call; the last step writes the JSON
# (DATE-cpu-accuracy[-PART...][-widthW].json).
#
#   benchmarks/accuracy.sh [WORKDIR [PART...]]    (default: runs/accuracy, every part)
#   PART: supervised-10k, labels-1000, steps-3000, seqclr-views, light-views, budgets, variants, simsiam, trial
#   WIDTH=100 benchmarks/accuracy.sh ...: captchas, and the models' input, 100 pixels wide (DESIGN's trial)
#   RENDER=160x60 benchmarks/accuracy.sh ...: python-captcha draws at that size (its own), then the images are
#     resized to WIDTH x 32 (default: drawn at WIDTH x 32 with fonts scaled to the height)
#   WARMUP=0.2 benchmarks/accuracy.sh ...: every fine-tuning stage warms up for that fraction of its steps
#     (the CLI's default is 0.05); those runs are named ...-warmup0.2 beside the others
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-runs/accuracy}
all_parts="supervised-10k labels-1000 steps-3000 seqclr-views light-views budgets variants simsiam trial"
parts=${*:2}
parts=${parts:-$all_parts}
for part in $parts; do
  [[ " $all_parts " == *" $part "* ]] || { echo "unknown part '$part'" >&2; exit 2; }
done
wanted() { [[ " $parts " == *" $1 "* ]]; }
width=${WIDTH:+--width $WIDTH}
render=${RENDER:+--render-size $RENDER}
warmup=${WARMUP:+--warmup $WARMUP}
mkdir -p "$work" && cd "$work"
# data and finished runs are reused by name: one WORKDIR holds one image width and rendering
style="${WIDTH:-128}${RENDER:+ drawn at $RENDER}"
if [ -f width ] && [ "$(cat width)" != "$style" ]; then
  echo "$work holds captchas '$(cat width)' (width, rendering): use another WORKDIR for '$style'" >&2; exit 2
fi
echo "$style" > width

data() { [ -d "$1" ] || textssl data captcha "$1" --count "$2" --seed "$3" ${4:-} $width $render > /dev/null; }
data test2k 2000 3 --labeled
data val1k 1000 2 --labeled
data lab10k 10000 1 --labeled
data unl50k 50000 4

finetune() {  # OUT [options...]: fine-tune, then evaluate on the test set
  local out=$1${WARMUP:+-warmup$WARMUP}; shift
  [ -f "$out/test.json" ] && return
  rm -rf "$out"
  textssl finetune --train lab10k --val val1k --out "$out" --batch-size 64 --no-progress $width $warmup "$@" \
    > "$out.log" 2>&1
  textssl evaluate "$out" --data test2k --json "$out/test.json" > /dev/null
}
pretrain() {  # OUT [options...]
  local out=$1; shift
  [ -f "$out/metrics.json" ] && return
  rm -rf "$out"
  textssl pretrain --data unl50k --out "$out" --batch-size 128 --no-progress $width "$@" > "$out.log" 2>&1
}

if wanted supervised-10k; then
  finetune sup-10k --epochs 20 --lr 3e-3 --strength 0.5 --val-every 500
fi

if wanted labels-1000 || wanted steps-3000 || wanted seqclr-views || wanted budgets; then
  pretrain seqclr --method seqclr --max-steps 1000
fi

if wanted labels-1000; then
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
fi

if wanted steps-3000; then  # DESIGN's trial (0.78 against 0.13) fine-tuned the classic CRNN 3,000 steps
  long="--num-labels 1000 --max-steps 3000 --strength 0.5 --val-every 250"
  for lrw in 1e-3 3e-3; do
    finetune "seqclr-1000-no-shortcut-s3000-lrw$lrw" $long --no-shortcut --init seqclr --protocol two-stage \
      --head-steps 200 --lr 3e-3 --lr-whole "$lrw"
  done
  for lr in 1e-2 3e-3 1e-3; do
    finetune "sup-1000-no-shortcut-s3000-lr$lr" $long --no-shortcut --lr "$lr"
  done
  # does a frozen pretrained CNN, or a pretrained BiLSTM (contextual features), keep the classic CRNN from memorising?
  for lr in 1e-3 3e-3; do
    finetune "seqclr-1000-no-shortcut-s3000-frozen-lr$lr" $long --no-shortcut --init seqclr --protocol frozen --lr "$lr"
  done
  pretrain seqclr-ctx-noshort --method seqclr --max-steps 1000 --features contextual --no-shortcut
  for lr in 1e-3 3e-3; do
    finetune "seqclr-ctx-1000-no-shortcut-s3000-full-lr$lr" $long --no-shortcut --init seqclr-ctx-noshort \
      --protocol full --lr "$lr"
  done
  # with the shortcut: the two best learning rates of each arm at 2,000 steps
  for lrw in 3e-3 1e-2; do
    finetune "seqclr-1000-shortcut-s3000-lrw$lrw" $long --shortcut --init seqclr --protocol two-stage \
      --head-steps 200 --lr 3e-3 --lr-whole "$lrw"
  done
  for lr in 1e-2 3e-3; do
    finetune "sup-1000-shortcut-s3000-lr$lr" $long --shortcut --lr "$lr"
  done
fi

if wanted seqclr-views; then  # the trial fine-tuned on its pretraining views; captcha views at 0.5 let it memorise
  views="--num-labels 1000 --max-steps 3000 --augment seqclr --strength 1.0 --val-every 250 --no-shortcut"
  finetune seqclr-1000-no-shortcut-s3000-seqclrviews-lrw1e-3 $views --init seqclr --protocol two-stage \
    --head-steps 200 --lr 3e-3 --lr-whole 1e-3
  for lr in 1e-2 3e-3 1e-3; do
    finetune "sup-1000-no-shortcut-s3000-seqclrviews-lr$lr" $views --lr "$lr"
  done
fi

if wanted light-views; then  # the trial's views (loss 0.47 there; 2.6 with seqclr's speckle and perspective)
  pretrain seqclr-light --method seqclr --max-steps 1000 --augment seqclr-light --strength 1.0
  light="--num-labels 1000 --max-steps 3000 --augment seqclr-light --strength 1.0 --val-every 250"
  finetune seqclr-light-1000-no-shortcut-full-lr1e-3 $light --no-shortcut --init seqclr-light --protocol full --lr 1e-3
  finetune seqclr-light-1000-no-shortcut-lrw1e-3 $light --no-shortcut --init seqclr-light --protocol two-stage \
    --head-steps 200 --lr 3e-3 --lr-whole 1e-3
  for lr in 3e-3 1e-3; do
    finetune "sup-1000-no-shortcut-light-lr$lr" $light --no-shortcut --lr "$lr"
  done
  finetune seqclr-light-1000-shortcut-lrw1e-2 $light --shortcut --init seqclr-light --protocol two-stage \
    --head-steps 200 --lr 3e-3 --lr-whole 1e-2
  finetune sup-1000-shortcut-light-lr1e-2 $light --shortcut --lr 1e-2
  # the light-view encoder on the captcha views of steps-3000, against that part's supervised run
  long="--num-labels 1000 --max-steps 3000 --strength 0.5 --val-every 250"
  finetune seqclr-light-1000-shortcut-s3000-lrw1e-2 $long --shortcut --init seqclr-light --protocol two-stage \
    --head-steps 200 --lr 3e-3 --lr-whole 1e-2
  finetune sup-1000-shortcut-s3000-lr1e-2 $long --shortcut --lr 1e-2
fi

if wanted budgets; then  # the same grid for both arms; the head stage is a fifth of the budget
  for steps in 250 500 1000; do
    short="--num-labels 1000 --max-steps $steps --strength 0.5 --shortcut"
    for lr in 3e-3 1e-2 3e-2; do
      finetune "seqclr-1000-shortcut-s$steps-lrw$lr" $short --init seqclr --protocol two-stage --lr 3e-3 --lr-whole "$lr"
      finetune "sup-1000-shortcut-s$steps-lr$lr" $short --lr "$lr"
    done
  done
fi

if wanted variants; then  # SSL choices at the demo's scale: 400 pretraining steps, 250 labels, 350 steps
  pretrain v-window5 --method seqclr --max-steps 400
  pretrain v-window10 --method seqclr --max-steps 400 --windows 10
  pretrain v-frame --method seqclr --max-steps 400 --mapping frame
  pretrain v-all --method seqclr --max-steps 400 --mapping all
  pretrain v-contextual --method seqclr --max-steps 400 --features contextual
  pretrain v-captcha-views --method seqclr --max-steps 400 --augment captcha
  pretrain v-steps1000 --method seqclr --max-steps 1000  # and the default at 2.5 and 7.5 times the steps
  pretrain v-steps3000 --method seqclr --max-steps 3000
  pretrain v-simclr --method simclr --max-steps 400 --augment captcha  # the seed case's image-level methods
  pretrain v-simsiam --method simsiam --max-steps 400 --augment captcha
  pretrain v-simsiam-seqclr-views --method simsiam --max-steps 400  # SimSiam's mapping, not its views, at fault?
  pretrain v-simsiam-window --method simsiam --max-steps 400 --augment captcha --mapping window
  at250() { echo "--num-labels 250 --max-steps $1 --strength $2 --val-every 70 --shortcut"; }  # STEPS STRENGTH
  demo=$(at250 350 0.5)
  for encoder in v-window5 v-window10 v-frame v-all v-contextual v-captcha-views v-steps1000 v-steps3000 \
                 v-simclr v-simsiam v-simsiam-seqclr-views v-simsiam-window; do
    finetune "$encoder-250" $demo --init "$encoder" --protocol two-stage --head-steps 70 --lr 3e-3 --lr-whole 3e-3
  done
  # the full protocol: for contextual features (they read nothing after the head stage), the default and SimSiam
  for encoder in v-contextual v-window5 v-simsiam; do
    finetune "$encoder-250-full" $demo --init "$encoder" --protocol full --lr 3e-3
  done
  for lr in 3e-3 1e-2; do
    finetune "sup-250-lr$lr" $demo --lr "$lr"
  done
  # the longest-pretrained encoder fine-tuned longer and on stronger views, each against its own baseline
  for budget in 350:1.0 1000:0.5 1000:1.0; do
    steps=${budget%:*} strength=${budget#*:}
    more=$(at250 "$steps" "$strength")
    finetune "v-steps3000-250-s$steps-x$strength" $more --init v-steps3000 --protocol two-stage --head-steps 70 \
      --lr 3e-3 --lr-whole 3e-3
    for lr in 3e-3 1e-2; do
      finetune "sup-250-s$steps-x$strength-lr$lr" $more --lr "$lr"
    done
  done
fi

if wanted trial; then  # python-captcha's own 160x60 resized to 100x32: the trial's 0.78 against 0.13
  pretrain seqclr-light --method seqclr --max-steps 1000 --augment seqclr-light --strength 1.0
  light="--num-labels 1000 --max-steps 3000 --augment seqclr-light --strength 1.0 --val-every 250"
  for lrw in 1e-3 3e-3; do
    finetune "seqclr-light-1000-no-shortcut-lrw$lrw" $light --no-shortcut --init seqclr-light --protocol two-stage \
      --head-steps 200 --lr 3e-3 --lr-whole "$lrw"
  done
  for lr in 3e-3 1e-3 3e-4; do
    finetune "sup-1000-no-shortcut-light-lr$lr" $light --no-shortcut --lr "$lr"
  done
  # the classic CRNN's baseline leaves CTC's plateau sooner with a longer warm-up: both arms again at 0.2
  for lr in 1e-3 3e-3; do
    finetune "sup-1000-no-shortcut-light-lr$lr-warmup0.2" $light --no-shortcut --lr "$lr" --warmup 0.2
  done
  finetune seqclr-light-1000-no-shortcut-lrw3e-3-warmup0.2 $light --no-shortcut --init seqclr-light \
    --protocol two-stage --head-steps 200 --lr 3e-3 --lr-whole 3e-3 --warmup 0.2
  for lr in 3e-3 1e-2; do
    finetune "seqclr-light-1000-shortcut-lrw$lr" $light --shortcut --init seqclr-light --protocol two-stage \
      --head-steps 200 --lr 3e-3 --lr-whole "$lr"
    finetune "sup-1000-shortcut-light-lr$lr" $light --shortcut --lr "$lr"
  done
fi

if wanted simsiam; then
  pretrain simsiam --method simsiam --max-steps 600
fi

# a partial call gets its own file, so that it cannot overwrite the day's full one
suffix=$(echo ${*:2} ${WIDTH:+width$WIDTH} ${RENDER:+render$RENDER} ${WARMUP:+warmup$WARMUP} | tr ' ' -)
python "$here/collect_accuracy.py" . --out "$here/results/$(date +%F)-cpu-accuracy${suffix:+-$suffix}.json" $render
