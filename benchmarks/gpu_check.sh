#!/usr/bin/env bash
# One check for a lent GPU machine that has no network: train the `base` shape (~125M) for a couple of minutes and
# print tokens/s and MFU (target >= 40% in bf16), then one full `small` MIDAS run.
#
# The GPU machine cannot reach PyPI, so prepare on a networked machine first and carry the results:
#   benchmarks/gpu_check.sh prepare          # builds .gpu_check/cache (tokenised corpus that base and small share,
#                                            # ~25 MB)
#                                            # and .gpu_check/wheels (pure-Python wheels the GPU image may lack)
# then, on the GPU machine, from the repository root (carry .gpu_check):
#   benchmarks/gpu_check.sh                  # or: benchmarks/gpu_check.sh run
#
# Knobs (environment): BASE_CONFIG (base-baseline), BASE_STEPS (300), SMALL_CONFIG (small-midas), SMALL_STEPS
# (config's own), EXTRA_SET (more --set flags for both runs), CHECK_DIR (.gpu_check), PYTHON (python3),
# ALLOW_CPU=1 to run the same steps on CPU (used by the test of this script).
set -euo pipefail

MODE="${1:-run}"
CHECK_DIR="${CHECK_DIR:-.gpu_check}"
PYTHON="${PYTHON:-python3}"
BASE_CONFIG="${BASE_CONFIG:-base-baseline}"
BASE_STEPS="${BASE_STEPS:-300}"
SMALL_CONFIG="${SMALL_CONFIG:-small-midas}"
SMALL_STEPS="${SMALL_STEPS:-}"
EXTRA_SET="${EXTRA_SET:-}"
export PRIMBENCH_CACHE="${PRIMBENCH_CACHE:-$CHECK_DIR/cache}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

sets() {  # --set flags from a space-separated list
    for pair in "$@"; do printf -- '--set %s ' "$pair"; done
}

if [[ "$MODE" == "prepare" ]]; then
    mkdir -p "$CHECK_DIR/wheels"
    # Building the token cache here means the GPU machine never needs the corpus archives or PyPI.
    for config in "$BASE_CONFIG" "$SMALL_CONFIG"; do
        # shellcheck disable=SC2046
        "$PYTHON" -c 'import sys; from primbench.model_zoo.config import load_config; from primbench.model_zoo.data import prepare_data
print(prepare_data(load_config(sys.argv[1], sys.argv[2:])).folder)' "$config" $EXTRA_SET
    done
    rm -rf "$PRIMBENCH_CACHE/corpus"  # the raw text (46 MB) is not needed once tokenised; carry limits are tight
    "$PYTHON" -m pip download --no-deps --quiet -d "$CHECK_DIR/wheels" \
        "transformers==$("$PYTHON" -c 'import transformers; print(transformers.__version__)')" \
        safetensors tokenizers huggingface-hub pyyaml click tqdm regex filelock fsspec packaging
    du -sh "$CHECK_DIR/cache" "$CHECK_DIR/wheels"
    exit 0
fi
[[ "$MODE" == "run" ]] || { echo "usage: $0 [prepare|run]" >&2; exit 2; }

# Install what the image lacks from the carried wheels, never from the network.
if ! "$PYTHON" -c 'import transformers, tokenizers, safetensors, yaml, click, tqdm' 2>/dev/null; then
    [[ -d "$CHECK_DIR/wheels" ]] || { echo "error: missing Python packages and no $CHECK_DIR/wheels; run '$0 prepare' where PyPI is reachable and carry $CHECK_DIR" >&2; exit 2; }
    "$PYTHON" -m pip install --quiet --no-index --find-links "$CHECK_DIR/wheels" transformers tokenizers safetensors pyyaml click tqdm
fi
if [[ "${ALLOW_CPU:-0}" != "1" ]]; then
    "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
        || { echo "error: no CUDA device visible; this check is for a GPU machine (ALLOW_CPU=1 to try on CPU)" >&2; exit 2; }
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
fi
"$PYTHON" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'

RUNS="$CHECK_DIR/runs"
rm -rf "$RUNS"
echo "== $BASE_CONFIG for $BASE_STEPS steps (bf16 autocast on GPU)"
# shellcheck disable=SC2046
"$PYTHON" -m primbench.model_zoo.train --config "$BASE_CONFIG" --out "$RUNS/base" $(sets "run.steps=$BASE_STEPS" \
    run.eval_every=0 run.checkpoint_every=0 run.log_every=20 $EXTRA_SET)
echo "base speed (median over log windows after the first): $("$PYTHON" benchmarks/bench_train.py summarise "$RUNS/base")"

echo "== $SMALL_CONFIG"
small_steps=()
[[ -n "$SMALL_STEPS" ]] && small_steps=("run.steps=$SMALL_STEPS")
# shellcheck disable=SC2046
"$PYTHON" -m primbench.model_zoo.train --config "$SMALL_CONFIG" --out "$RUNS/small" $(sets "${small_steps[@]}" $EXTRA_SET)
echo "small speed: $("$PYTHON" benchmarks/bench_train.py summarise "$RUNS/small")"
"$PYTHON" -c 'import json, sys; s = json.load(open(sys.argv[1])); print("small summary:", {k: s[k] for k in ("method", "steps", "layers", "parameters", "wall_clock_s", "baseline_flops_ratio", "final_val_loss")})' "$RUNS/small/summary.json"
