#!/usr/bin/env bash
# Reproduce the reference localisers' rows of the leaderboard's localisation section, offline:
# build mom-mini and a spliced benchmark from it, then for each reference model train it on mom-mini (a finished
# run is reused), score the spliced build's test splits in 2 s windows every 1 s with and without the change-point
# baseline (scripts/localisation_timelines.py), submit both timelines, then render and validate.
#
#   scripts/reproduce_mom_mini_localisation.sh                      # clam-mini, fakeprint, spectttra-mini
#   MODELS="clam-mini fakeprint" scripts/reproduce_mom_mini_localisation.sh
#   PLOT_SONG=splice-test_id-insert-000 scripts/reproduce_mom_mini_localisation.sh   # also draw that song
#
# Data and runs go under $MOM_BENCH_HOME (default ~/.cache/mom-bench): the spliced build in datasets/splice, the
# timelines and their metadata in runs/splice/<model>. The entries go to leaderboard/entries/splice (existing
# entries of the same localisers are replaced); commit leaderboard/ afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1

mb=${MOM_BENCH_CLI:-mom-bench}
py=${PYTHON:-python}
home=${MOM_BENCH_HOME:-$HOME/.cache/mom-bench}
splice="$home/datasets/splice"
read -r -a models <<< "${MODELS:-clam-mini fakeprint spectttra-mini}"
plot=()
if [ -n "${PLOT_SONG:-}" ]; then plot=(--plot-song "$PLOT_SONG"); fi

start=$SECONDS
echo "=== build mom-mini (a finished, up-to-date build is reused)"
$mb build --benchmark mom-mini -q
echo "=== build the spliced benchmark from it"
$mb build --benchmark splice --from "$home/datasets/mom-mini" --out "$splice" -q
echo "=== spliced build ready in $((SECONDS - start)) s"
for model in "${models[@]}"; do
  t0=$SECONDS
  echo "=== $model: train on mom-mini (a finished run is reused)"
  $mb train --model "$model" --benchmark mom-mini
  t1=$SECONDS
  echo "=== $model: trained (or reused) in $((t1 - t0)) s; timelines"
  out="$home/runs/splice/$model"
  $py scripts/localisation_timelines.py --model "$model" --splice "$splice" --out "$out" "${plot[@]}"
  t2=$SECONDS
  echo "=== $model: timelines in $((t2 - t1)) s; submit"
  for suffix in "" "-changepoint"; do
    $mb submit "$out/timeline$suffix.csv" --meta "$out/meta$suffix.json" --benchmark splice --data "$splice" \
      --replace
  done
  echo "=== $model: submitted in $((SECONDS - t2)) s; $model done in $((SECONDS - t0)) s"
done
echo "=== leaderboard"
$mb leaderboard render
$mb leaderboard validate --data "mom-mini=$home/datasets/mom-mini" --data "splice=$splice" --require-rescore
echo "=== all done in $((SECONDS - start)) s"
