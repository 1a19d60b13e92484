#!/usr/bin/env bash
# Reproduce the mom-mini reference rows of the leaderboard, from scratch and offline:
# build mom-mini, then for each mom-mini reference model train, evaluate and submit the results folder
# (its baselines/ recipe is the metadata), then re-import the reported rows, render and validate.
#
#   scripts/reproduce_mom_mini_leaderboard.sh                 # every mom-mini reference model and baseline
#   MODELS="clam-mini spectttra-mini" scripts/reproduce_mom_mini_leaderboard.sh
#   ROBUSTNESS=standard scripts/reproduce_mom_mini_leaderboard.sh   # also run the robustness suite, so the
#                                                                   # entries carry its summary columns
#
# Data and runs go under $MOM_BENCH_HOME (default ~/.cache/mom-bench); the entries go to leaderboard/.
# Existing mom-mini rows of the same models are replaced; commit leaderboard/ afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1

mb=${MOM_BENCH_CLI:-mom-bench}
home=${MOM_BENCH_HOME:-$HOME/.cache/mom-bench}
read -r -a models <<< "${MODELS:-clam-mini clam-wca-mini mert-only-mini wav2vec2-only-mini spectttra-mini clam-mini-random fakeprint stats-lr}"

start=$SECONDS
echo "=== build mom-mini"
$mb build --benchmark mom-mini --overwrite
for model in "${models[@]}"; do
  if [ ! -f "baselines/$model.yaml" ]; then
    echo "error: no recipe baselines/$model.yaml" >&2
    exit 2
  fi
  t0=$SECONDS
  echo "=== $model: train"
  $mb train --model "$model" --benchmark mom-mini --overwrite
  echo "=== $model: evaluate"
  if [ -n "${ROBUSTNESS:-}" ]; then
    $mb evaluate --model "$model" --benchmark mom-mini --robustness "$ROBUSTNESS"
  else
    $mb evaluate --model "$model" --benchmark mom-mini
  fi
  echo "=== $model: submit"
  $mb submit "$home/runs/mom-mini/$model/results" --meta "baselines/$model.yaml" --replace
  echo "=== $model done in $((SECONDS - t0)) s"
done
echo "=== leaderboard"
$mb leaderboard import-reported
$mb leaderboard render
$mb leaderboard validate --data "mom-mini=$home/datasets/mom-mini" --require-rescore
echo "=== all done in $((SECONDS - start)) s"
