#!/bin/bash
# The exact recipe behind BENCHMARKS.md's verifier and search tables (`make search`; about 5 hours on 2 CPU cores).
# Two lanes side by side, one thread each (two 2-thread jobs oversubscribe 2 cores):
#   AR:      rollouts (2000 training prompts x 2), the PARM, PRM and ORM verifiers (2000 steps each),
#            then search_scaling at pool 20; when done it helps record MaskGIT's pool (--record-only).
#   MaskGIT: rollouts (1500 x 2), its three verifiers, search_scaling at pool 4 and 4 images per prompt with the
#            generator under bf16 autocast (MaskGIT has no KV cache: ~1.75 s per image per thread at pool 4, so a
#            pool of 20 would take ~8 hours here).
# PARM++ corrections run online at every N they are reported for: at N = 1, 4, 20 for AR (3 rounds) and N = 4 for
# MaskGIT (1 round: each MaskGIT correction is a full 16-step inpainting).
# Then the AR hindsight verifiers (--relabel 2) and the AR pools rescored with them (`--rescore-from`), and MaskGIT's
# curve to N = 20 on one image per prompt.
# Every step resumes (rollouts are rewritten; training runs and search records resume).
# Then `python -m imagecot.zoo.build --verifiers ar OUT/verifiers-ar` ships the AR PARM (the zoo's budget).
set -euo pipefail
OUT=${1:-runs/search}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
export OMP_NUM_THREADS=1

verifiers() {  # GEN: rollouts and the three verifiers
  local g=$1 prompts=$2 seed=$3
  [ -f "$OUT/rollouts-$g.npz" ] || imagecot rollouts --generator "$g" --prompts "$prompts" --per-prompt 2 \
      --seed "$seed" --out "$OUT/rollouts-$g.npz"
  for role in parm prm orm; do
    imagecot train verifier --role $role --rollouts "$OUT/rollouts-$g.npz" --out "$OUT/verifiers-$g/$role" \
      --steps 2000 --lr 1e-3 --warmup 100 --weight-decay 0.05 --amp-bf16 true --log-every 100 --ckpt-every 250
  done
}
maskgit_search() {
  python "$HERE/search_scaling.py" --generator maskgit --verifiers "$OUT/verifiers-maskgit" --pool 4 --ns 1 2 4 \
    --parm-plus-plus-ns 4 --rounds 1 --images-per-prompt 4 --bf16 --threads 1 --out "$OUT/scaling-maskgit" "$@"
}

( verifiers ar 2000 0
  python "$HERE/search_scaling.py" --generator ar --verifiers "$OUT/verifiers-ar" --pool 20 \
    --parm-plus-plus-ns 1 4 20 --threads 1 --out "$OUT/scaling-ar"
  while [ ! -f "$OUT/verifiers-maskgit/orm/final/eval.json" ]; do sleep 20; done
  maskgit_search --record-only ) > "$OUT/lane-ar.log" 2>&1 &
lane_ar=$!
trap 'pkill -P $lane_ar 2>/dev/null; kill $lane_ar 2>/dev/null; true' EXIT   # a failed MaskGIT lane stops the AR one
( verifiers maskgit 1500 1
  maskgit_search ) > "$OUT/lane-maskgit.log" 2>&1
wait $lane_ar
trap - EXIT

# Hindsight verifiers for AR (--relabel 2; --aux-heads keeps the ORM's and PRM's scores on the image), and the AR
# pools rescored with them: previews follow from the final tokens, so nothing is sampled again (~1 hour more).
hindsight() {  # ROLE [--aux-heads]
  imagecot train verifier --role "$1" --rollouts "$OUT/rollouts-ar.npz" --out "$OUT/verifiers-ar-relabel/$1" \
    --relabel 2 ${2:-} --steps 2000 --lr 1e-3 --warmup 100 --weight-decay 0.05 --amp-bf16 true --log-every 100 \
    --ckpt-every 250
}
rescore() {
  python "$HERE/search_scaling.py" --generator ar --verifiers "$OUT/verifiers-ar-relabel" --pool 20 --threads 1 \
    --rescore-from "$OUT/scaling-ar" --out "$OUT/scaling-ar-relabel" "$@"
}
( hindsight parm; hindsight prm --aux-heads ) > "$OUT/lane-hindsight.log" 2>&1 &
hindsight orm --aux-heads >> "$OUT/lane-ar.log" 2>&1
wait
rescore --record-only >> "$OUT/lane-hindsight.log" 2>&1 &
rescore --parm-plus-plus-ns 1 4 20 >> "$OUT/lane-ar.log" 2>&1
wait

# MaskGIT's scaling curve to N = 20 on one image per prompt (pool 20; ~45 minutes on the two lanes).
maskgit_pool20() {
  python "$HERE/search_scaling.py" --generator maskgit --verifiers "$OUT/verifiers-maskgit" --pool 20 \
    --parm-plus-plus-ns 20 --rounds 1 --images-per-prompt 1 --bf16 --threads 1 --out "$OUT/scaling-maskgit-pool20" "$@"
}
maskgit_pool20 --record-only >> "$OUT/lane-hindsight.log" 2>&1 &
maskgit_pool20 >> "$OUT/lane-maskgit.log" 2>&1
wait
echo "reports: $OUT/scaling-{ar,maskgit,ar-relabel,maskgit-pool20}/scaling.md"
