#!/bin/bash
# The exact recipe behind BENCHMARKS.md's verifier and search tables (`make search`).
# Two lanes side by side, one thread each (two 2-thread jobs oversubscribe 2 cores). Every step resumes: rollouts
# are written in shards, training runs resume from their checkpoint, search records and result rows are cached.
#   lane A: AR rollouts (16,000 training prompts x 8 candidates = 128k), the AR verifier (one network: ORM, PRM;
#           the tasks it reads from its counts head chosen on validation rollouts), a PARM trained alone beside it,
#           validation pools to choose PARM's gate and waves on, the AR benchmark pool (553 x 4 images x 20
#           candidates) and its report, then the ladder rungs
#           (verifiers on the first 2k, 8k, 32k rollouts; the pool's first image per prompt rescored with each and
#           with the full verifier).
#   lane B: MaskGIT rollouts (2,560 x 8, bf16), VAR rollouts (5,000 x 8, bf16), their verifiers (both fine-tuned
#           from lane A's AR verifier), MaskGIT's pool (553 x 1 image x 20 candidates, bf16) and VAR's (553 x 1 x 20).
# Then `python -m imagecot.zoo.build --verifier GEN OUT/verifier-GEN` ships each verifier, and `--verifier-parm ar
# OUT/verifier-ar/parm` the PARM trained alone as the zoo's verifier-ar/parm/ (the Makefile does).
set -euo pipefail
OUT=${1:-runs/search}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
# bfloat16 only where the CPU has it natively (the Makefile passes its AMP_BF16; emulated bf16 is far slower)
AMP_BF16=${AMP_BF16:-$(python -m imagecot.generators.autocast)}
BF16_FLAG=$([ "$AMP_BF16" = true ] && echo --bf16 || true)
TRAIN="--lr 1e-3 --warmup 200 --weight-decay 0.05 --amp-bf16 $AMP_BF16 --log-every 100 --ckpt-every 500"

verifier() {  # GEN STEPS [extra train options]: the verifier of GEN's rollouts
  local g=$1 steps=$2; shift 2
  imagecot train verifier --rollouts "$OUT/rollouts-$g" --out "$OUT/verifier-$g" --steps "$steps" $TRAIN "$@"
}
scaling() {  # GEN OUT_NAME [search_scaling options]
  local g=$1 name=$2; shift 2
  python "$HERE/search_scaling.py" --generator "$g" --verifiers "$OUT/verifier-$g" --pool 20 --threads 1 \
    --out "$OUT/$name" "$@"
}

chosen_waves() {  # FILE: "W S K" of choose_parm_waves.py's choice; where no setting passes its rule, the closest one
  # (measured, and reported as not passing)
  python -c "import json, sys; d = json.load(open(sys.argv[1])); c = d if 'wave' in d else d['closest']
print(c['wave'], c['stop_at'], c.get('stop_yeses', 1))" "$1"
}

searched() {  # GEN VAL_SEED SEED [options of both runs]: GEN's PARM clarity cut, gate and waves chosen on its own
  # validation pool (300 training-grammar prompts, other seeds; never the benchmark), then GEN's benchmark table
  local g=$1 val_seed=$2 seed=$3; shift 3
  python "$HERE/search_scaling.py" --generator "$g" --verifiers "$OUT/verifier-$g" --pool 20 --threads 1 \
    --images-per-prompt 1 --validation 300 --val-seed "$val_seed" --seed "$seed" --record-only "$@" \
    --out "$OUT/val-scaling-$g"
  python "$HERE/choose_parm_waves.py" --records "$OUT/val-scaling-$g/records" 300 "$val_seed" \
    --out "$OUT/parm_waves_$g.json" --write-into "$OUT/verifier-$g/final"
  # shellcheck disable=SC2046   # "W S K": three arguments
  scaling "$g" "scaling-$g" --images-per-prompt 1 --parm-plus-plus-ns 20 \
    --parm-wave $(chosen_waves "$OUT/parm_waves_$g.json") "$@"
}

lane_a() {
  imagecot rollouts --generator ar --prompts 16000 --per-prompt 8 --seed 0 --out "$OUT/rollouts-ar"
  verifier ar 8000
  # the tasks whose verdict the verifier reads from its counts and parse heads (alone, or times the head's own
  # score), chosen on validation rollouts (other seeds); on final images only, PARM's previews from its own head
  imagecot rollouts --generator ar --prompts 320 --per-prompt 8 --shard-prompts 64 --seed 97 --out "$OUT/val-rollouts-ar"
  python "$HERE/count_verdict_check.py" --rollouts "$OUT/val-rollouts-ar" --verifier "$OUT/verifier-ar" --threads 1 \
    --write-into "$OUT/verifier-ar/final" --previews-from-head
  # PARM trained alone (the paper's protocol: ORM and PARM fine-tuned apart) on the same rollouts, steps and recipe,
  # as verifier-ar/parm/, which serves the PARM role (load_verifier); ORM and PRM stay the one network
  imagecot train verifier --role parm --rollouts "$OUT/rollouts-ar" --out "$OUT/verifier-ar/parm" --steps 8000 $TRAIN
  python "$HERE/count_verdict_check.py" --rollouts "$OUT/val-rollouts-ar" --verifier "$OUT/verifier-ar/parm" \
    --threads 1 --write-into "$OUT/verifier-ar/parm/final" --previews-from-head
  # PARM's clarity cut, gate and waves (W, S, K) chosen on validation prompts of the training grammar (1,500, other
  # seeds), never the benchmark
  python "$HERE/search_scaling.py" --generator ar --verifiers "$OUT/verifier-ar" --pool 20 --threads 1 \
    --images-per-prompt 1 --validation 500 --val-seed 783 --seed 11 --record-only --out "$OUT/val-scaling-ar"
  python "$HERE/search_scaling.py" --generator ar --verifiers "$OUT/verifier-ar" --pool 20 --threads 1 \
    --images-per-prompt 1 --validation 1000 --val-seed 788 --seed 17 --record-only --out "$OUT/val2-scaling-ar"
  python "$HERE/choose_parm_waves.py" --records "$OUT/val-scaling-ar/records" 500 783 \
    --records "$OUT/val2-scaling-ar/records" 1000 788 --out "$OUT/parm_waves.json" \
    --write-into "$OUT/verifier-ar/parm/final"
  local waves
  waves=$(chosen_waves "$OUT/parm_waves.json")
  scaling ar scaling-ar --parm-plus-plus-ns 20 --parm-wave $waves
  # the ladder: the benchmark pool's first image per prompt (553 x 1) rescored with one-network verifiers on less
  # data and on all of it; each rung's counts verdict chosen on the same validation rollouts, PARM's clarity cut,
  # gate and waves the shipped PARM's
  for n in 2000 8000 32000; do
    imagecot train verifier --rollouts "$OUT/rollouts-ar" --out "$OUT/ladder/verifier-ar-$n" --limit "$n" \
      --steps $((n < 8000 ? 1000 : n < 32000 ? 2000 : 4000)) $TRAIN
    python "$HERE/count_verdict_check.py" --rollouts "$OUT/val-rollouts-ar" --verifier "$OUT/ladder/verifier-ar-$n" \
      --threads 1 --write-into "$OUT/ladder/verifier-ar-$n/final"
  done
  local gate clarity
  gate=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['parm_threshold'])" \
    "$OUT/verifier-ar/parm/final/config.json")
  clarity=$(python -c "import json, sys; print(json.load(open(sys.argv[1])).get('parm_clarity', 0.5))" \
    "$OUT/verifier-ar/parm/final/config.json")
  for v in 2000:"$OUT/ladder/verifier-ar-2000" 8000:"$OUT/ladder/verifier-ar-8000" \
           32000:"$OUT/ladder/verifier-ar-32000" 128000:"$OUT/verifier-ar/final"; do
    python "$HERE/search_scaling.py" --generator ar --verifiers "${v#*:}" --pool 20 --threads 1 --ns 1 20 \
      --parm-plus-plus-ns 20 --images-per-prompt 1 --rescore-from "$OUT/scaling-ar" --parm-wave $waves \
      --parm-gate "$gate" --parm-clarity "$clarity" \
      --out "$OUT/ladder/scaling-ar-${v%%:*}"
  done
  python "$HERE/verifier_ladder.py" --out "$OUT/ladder" \
    $(for n in 2000 8000 32000; do echo --rung "$OUT/ladder/verifier-ar-$n" "$OUT/ladder/scaling-ar-$n"; done) \
    --rung "$OUT/verifier-ar" "$OUT/ladder/scaling-ar-128000"
}

finetuned() {  # GEN STEPS VAL_PROMPTS [validation rollout options]: GEN's verifier trained on from lane A's AR
  # verifier; its counts verdict (and calibration) chosen on validation rollouts of other prompts and seeds
  local g=$1 steps=$2 val_prompts=$3; shift 3
  until [ -f "$OUT/verifier-ar/final/model.safetensors" ]; do sleep 60; done
  imagecot train verifier --rollouts "$OUT/rollouts-$g" --out "$OUT/verifier-$g" --init "$OUT/verifier-ar/final" \
    --steps "$steps" --lr 3e-4 --warmup 100 --weight-decay 0.05 --amp-bf16 "$AMP_BF16" --log-every 100 --ckpt-every 200
  imagecot rollouts --generator "$g" --prompts "$val_prompts" --per-prompt 8 --shard-prompts 64 "$@" \
    --out "$OUT/val-rollouts-$g"
  python "$HERE/count_verdict_check.py" --rollouts "$OUT/val-rollouts-$g" --verifier "$OUT/verifier-$g" \
    --generator "$g" --threads 1 --write-into "$OUT/verifier-$g/final"
}

lane_b() {
  imagecot rollouts --generator maskgit --prompts 2560 --per-prompt 8 --shard-prompts 128 $BF16_FLAG --seed 13 \
    --out "$OUT/rollouts-maskgit"
  imagecot rollouts --generator var --prompts 5000 --per-prompt 8 --shard-prompts 128 $BF16_FLAG --seed 12 \
    --out "$OUT/rollouts-var"
  # MaskGIT's and VAR's verifiers start from the AR verifier (lane A's, trained on 128k rollouts; the shipped ones
  # were fine-tuned from the shipped zoo:verifier-ar) and learn their generator's rollouts, previews above all
  finetuned maskgit 1000 192 $BF16_FLAG --seed 99
  finetuned var 1500 320 --seed 98
  searched maskgit 785 13 $BF16_FLAG --rounds 1
  searched var 786 14
}

lane_a > "$OUT/lane-a.log" 2>&1 &
a=$!
trap 'pkill -P $a 2>/dev/null; kill $a 2>/dev/null; true' EXIT   # a failed lane B stops lane A
lane_b > "$OUT/lane-b.log" 2>&1
wait $a
trap - EXIT
echo "reports: $OUT/scaling-{ar,maskgit,var}/scaling.md, $OUT/ladder/ladder.md"
