#!/usr/bin/env bash
# One check for a lent GPU machine that has no network, within one 10-minute call: tokens/s and MFU of the `base`
# shape (~125M) eager and compiled on one GPU and under torchrun over all visible GPUs, a kill -9 and resume, and
# one `small` MIDAS timing, and transformers.Trainer + GrowthCallback under torchrun (do the ranks' weights agree?).
#
# The GPU machine cannot reach PyPI, so prepare on a networked machine first and carry the results:
#   benchmarks/gpu_check.sh prepare          # builds .gpu_check/cache (tokenised corpus that base and small share,
#                                            # ~25 MB)
#                                            # and .gpu_check/wheels (every wheel the trainer imports,
#                                            # dependencies included, and setuptools to install primbench
#                                            # editable offline; torch is the image's own)
# then, on the GPU machine, from the repository root (carry .gpu_check):
#   benchmarks/gpu_check.sh                  # or: benchmarks/gpu_check.sh run
#
# Knobs (environment): BASE_CONFIG (base-baseline), BASE_STEPS (200), SMALL_CONFIG (small-midas), SMALL_STEPS
# (config's own), EXTRA_SET (more --set flags for both runs), CHECK_DIR (.gpu_check), PYTHON (python3),
# ALLOW_CPU=1 to run the same steps on CPU (used by the test of this script).
set -euo pipefail

MODE="${1:-run}"
CHECK_DIR="${CHECK_DIR:-.gpu_check}"
PYTHON="${PYTHON:-python3}"
BASE_CONFIG="${BASE_CONFIG:-base-baseline}"
BASE_STEPS="${BASE_STEPS:-200}"
SMALL_CONFIG="${SMALL_CONFIG:-small-midas}"
SMALL_STEPS="${SMALL_STEPS:-}"
EXTRA_SET="${EXTRA_SET:-}"
export PRIMBENCH_CACHE="${PRIMBENCH_CACHE:-$CHECK_DIR/cache}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

sets() {  # --set flags from a space-separated list
    for pair in "$@"; do printf -- '--set %s ' "$pair"; done
}

# what the trainer imports; `pip download` without --no-deps adds their whole closure (huggingface-hub's typer,
# httpx, hf-xet ...), so an offline `pip install --no-index` on a bare image succeeds
TRAINER_PACKAGES=(transformers tokenizers safetensors huggingface-hub numpy pyyaml click tqdm)

if [[ "$MODE" == "prepare" ]]; then
    mkdir -p "$CHECK_DIR/wheels"
    # Building the token shards here means the GPU machine never needs the corpus archives or PyPI.
    for config in "$BASE_CONFIG" "$SMALL_CONFIG"; do
        # shellcheck disable=SC2046
        "$PYTHON" -m primbench.model_zoo.prepare --config "$config" $(sets $EXTRA_SET)
    done
    rm -rf "$PRIMBENCH_CACHE/corpus"  # the raw text (46 MB) is not needed once tokenised; carry limits are tight
    # setuptools and wheel let the GPU machine build primbench's editable install offline (no build isolation fetch)
    "$PYTHON" -m pip download --quiet -d "$CHECK_DIR/wheels" "setuptools>=77" wheel \
        "transformers==$("$PYTHON" -c 'import transformers; print(transformers.__version__)')" "${TRAINER_PACKAGES[@]:1}"
    du -sh "$PRIMBENCH_CACHE" "$CHECK_DIR/wheels"
    exit 0
fi
[[ "$MODE" == "run" ]] || { echo "usage: $0 [prepare|run]" >&2; exit 2; }

# Install what the image lacks from the carried wheels, never from the network.
if ! "$PYTHON" -c 'import transformers, tokenizers, safetensors, yaml, click, tqdm, primbench.model_zoo' 2>/dev/null; then
    [[ -d "$CHECK_DIR/wheels" ]] || { echo "error: missing Python packages and no $CHECK_DIR/wheels; run '$0 prepare' where PyPI is reachable and carry $CHECK_DIR" >&2; exit 2; }
    "$PYTHON" -m pip install --quiet --no-index --find-links "$CHECK_DIR/wheels" "${TRAINER_PACKAGES[@]}"
    # editable, like a development checkout: the folders install as primbench.* (a plain wheel would be shadowed
    # by the checkout's own primbench/ folder whenever a command runs from the repository root)
    "$PYTHON" -m pip install --quiet --no-index --no-deps --find-links "$CHECK_DIR/wheels" -e .
fi
GPUS=2  # torchrun processes: every visible GPU, or two CPU processes with ALLOW_CPU=1
if [[ "${ALLOW_CPU:-0}" != "1" ]]; then
    "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
        || { echo "error: no CUDA device visible; this check is for a GPU machine (ALLOW_CPU=1 to try on CPU)" >&2; exit 2; }
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    GPUS="$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')"
fi
"$PYTHON" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'

RUNS="$CHECK_DIR/runs"
rm -rf "$RUNS"
TORCHRUN=("$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$GPUS")
BASE_SET=("run.steps=$BASE_STEPS" run.eval_every=0 run.checkpoint_every=0 run.log_every=20)
speed() {  # speed LABEL RUN_FOLDER
    echo "$1 speed (median over log windows after the first): $("$PYTHON" benchmarks/bench_train.py summarise "$2")"
}

echo "== $BASE_CONFIG for $BASE_STEPS steps, one process, eager (bf16 autocast on GPU)"
# shellcheck disable=SC2046
"$PYTHON" -m primbench.model_zoo.train --config "$BASE_CONFIG" --out "$RUNS/base" $(sets "${BASE_SET[@]}" $EXTRA_SET)
speed "base" "$RUNS/base"
echo "== the same, torch.compile"
# shellcheck disable=SC2046
"$PYTHON" -m primbench.model_zoo.train --config "$BASE_CONFIG" --out "$RUNS/base-compiled" \
    $(sets "${BASE_SET[@]}" run.compile=true $EXTRA_SET)
speed "base compiled" "$RUNS/base-compiled"
echo "== the same, torchrun over $GPUS processes (DDP; global batch unchanged)"
# shellcheck disable=SC2046
"${TORCHRUN[@]}" -m primbench.model_zoo.train --config "$BASE_CONFIG" --out "$RUNS/base-ddp" $(sets "${BASE_SET[@]}" $EXTRA_SET)
speed "base torchrun" "$RUNS/base-ddp"

echo "== $SMALL_CONFIG under torchrun: kill -9 after its first checkpoint, then resume"
small_steps=()
[[ -n "$SMALL_STEPS" ]] && small_steps=("run.steps=$SMALL_STEPS")
# shellcheck disable=SC2046
"${TORCHRUN[@]}" -m primbench.model_zoo.train --config "$SMALL_CONFIG" --out "$RUNS/small" \
    $(sets "${small_steps[@]}" $EXTRA_SET) > "$RUNS/small-killed.log" 2>&1 &
launcher=$!
until compgen -G "$RUNS/small/checkpoints/step_*/checkpoint.json" > /dev/null; do
    kill -0 "$launcher" 2>/dev/null || { echo "error: the small run ended before its first checkpoint" >&2; exit 1; }
    sleep 1
done
for rank in $(pgrep -P "$launcher"); do kill -9 "$rank" 2>/dev/null || true; done  # the ranks, then the launcher
kill -9 "$launcher" 2>/dev/null || true
wait "$launcher" 2>/dev/null || true
echo "killed at $(ls "$RUNS/small/checkpoints" | tail -1); resuming"
# shellcheck disable=SC2046
"${TORCHRUN[@]}" -m primbench.model_zoo.train --config "$SMALL_CONFIG" --out "$RUNS/small" --resume \
    $(sets "${small_steps[@]}" $EXTRA_SET)
speed "small" "$RUNS/small"
"$PYTHON" -c 'import json, sys; s = json.load(open(sys.argv[1])); print("small summary:", {k: s[k] for k in ("method", "steps", "layers", "parameters", "wall_clock_s", "stage_seconds", "baseline_flops_ratio", "final_val_loss")})' "$RUNS/small/summary.json"

echo "== transformers.Trainer + GrowthCallback (MIDAS, 2 -> 6 layers) under torchrun over $GPUS processes"
"${TORCHRUN[@]}" tests/model_zoo/trainer_growth_probe.py "$RUNS/trainer-growth" > "$RUNS/trainer-growth.log" 2>&1 \
    || { tail -20 "$RUNS/trainer-growth.log" >&2; exit 1; }
"$PYTHON" -c 'import json, pathlib, sys; ranks = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("rank_*.json"))]; print("trainer growth:", len(ranks), "ranks, layers", {r["layers"] for r in ranks}, "steps", {r["step"] for r in ranks}, "weights identical:", len({r["hash"] for r in ranks}) == 1, "resume identical:", all(r["resumed"] == {**r["resumed"], "hash": r["hash"]} for r in ranks))' "$RUNS/trainer-growth"
