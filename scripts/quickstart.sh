#!/usr/bin/env bash
# The main job on the built-in synthetic dataset, from a fresh machine:
# install -> generate + convert data -> train -> evaluate (GT boxes) -> export -> predict.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
# Only the project's own output: TensorFlow's C++ logs off (3: errors too; they also reach Python as exceptions),
# and no search for a GPU on a machine without an NVIDIA one.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
if ! nvidia-smi -L >/dev/null 2>&1 && [ ! -e /dev/nvidia0 ]; then
  export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-}"
fi
RUN=work_dirs/synthetic
python train.py --config configs/synthetic.yaml --model_dir "$RUN"
python evaluate.py --dataset synthetic --checkpoint "$RUN" --detections gt --output "$RUN/eval/metrics.json"
python export_savedmodel.py --checkpoint "$RUN" --output export/calipso/1 --overwrite
TEST_IMAGES=work_dirs/synthetic/raw/images/test2015
python predict.py --checkpoint "$RUN" --images "$TEST_IMAGES/synth_test_000000.jpg,$TEST_IMAGES/synth_test_000001.jpg" \
  --detections gt --annotations work_dirs/synthetic/raw/annotations/test_hico.json --output "$RUN/predictions"
echo "done: metrics in $RUN/eval/metrics.json, SavedModel in export/calipso/1, pictures in $RUN/predictions"
