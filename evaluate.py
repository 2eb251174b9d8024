r"""Evaluates HOI predictions with the official HICO-DET and V-COCO protocols.

Score an existing predictions file:
  python evaluate.py --dataset hico_det --annotations test_hico.json \
      --train-annotations trainval_hico.json --predictions preds.json --output metrics.json
  python evaluate.py --dataset vcoco --vcoco-annotations vcoco_test.json \
      --coco-annotations instances_vcoco_all_2014.json --split-ids vcoco_test.ids \
      --predictions detections.pkl --output metrics.json

Evaluate a trained model (runs inference over the test shards, writes the
predictions in the official layout next to the metrics, then scores them):
  python evaluate.py --dataset synthetic --checkpoint work_dirs/synthetic --detections gt
  python evaluate.py --dataset hico_det --checkpoint RUN_DIR --detections dets.json \
      --annotations test_hico.json --train-annotations trainval_hico.json
  python evaluate.py --dataset vcoco --checkpoint RUN_DIR --detections gt
Model evaluation also writes contact_sheet.png next to the metrics: the best- and worst-scored
test images (per-image AP; V-COCO: per-image scenario-1 role AP) with their predicted and
ground-truth triplets (--nocontact_sheet: none).
V-COCO writes the official detections pickle (detections.pkl, calipso_tf/inference/vcoco_output.py)
and reads its ground truth from the manifest's split unless --vcoco-annotations,
--coco-annotations or --split-ids are given; --shuffled-baseline is HICO-DET only.
"""

from __future__ import annotations

import logging
import os

from absl import app, flags

from calipso_tf.cli import config_overrides, define_detections_flag, define_model_flags, run

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "synthetic", ["hico_det", "vcoco", "synthetic"], "Evaluation protocol.")
flags.DEFINE_string("predictions", None, "Predictions to score (PPDM JSON for HICO-DET, official pickle for V-COCO).")
flags.DEFINE_string("annotations", None, "HICO-DET test annotations (test_hico.json layout).")
flags.DEFINE_string("train_annotations", None, "HICO-DET training annotations (trainval_hico.json) for the rare split.")
flags.DEFINE_string("vcoco_annotations", None, "V-COCO vcoco_<split>.json.")
flags.DEFINE_string("coco_annotations", None, "COCO instances file of the V-COCO images.")
flags.DEFINE_string("split_ids", None, "V-COCO split image-id list (vcoco_<split>.ids).")
define_model_flags()
flags.DEFINE_string("split", None, "Split to evaluate; default: data.eval_split.")
define_detections_flag()
flags.DEFINE_integer("batch_size", 8, "Inference batch size.")
flags.DEFINE_integer("max_per_image", 100, "HICO-DET: keep the top HOIs per image (0 = no cap, as MATLAB).")
flags.DEFINE_bool("shuffled_baseline", True,
                  "HICO-DET: also score a shuffled-partner baseline of the model's predictions.")
flags.DEFINE_string("output", None, "metrics.json path; default: <model dir>/eval/metrics.json or ./metrics.json.")
flags.DEFINE_bool("plots", True, "Write per-category AP and precision/recall PNGs next to the metrics.")
flags.DEFINE_bool("contact_sheet", True, "Model evaluation: write contact_sheet.png next to the metrics, the 4 best "
                  "and 4 worst test images by per-image AP (V-COCO: scenario-1 role AP) with their predicted and "
                  "ground-truth triplets.")


def _require(**values):
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise _missing_flags_error(missing)


def _missing_flags_error(names: list[str]) -> app.UsageError:
    missing = ", ".join(f"--{name.replace('_', '-')}" for name in names)
    return app.UsageError(f"--dataset {FLAGS.dataset} needs {missing}")


def score_file(output: str) -> dict:
    from calipso_tf.evaluation import scoring

    plots = os.path.dirname(os.path.abspath(output)) if FLAGS.plots else None
    if FLAGS.dataset == "vcoco":
        _require(vcoco_annotations=FLAGS.vcoco_annotations, coco_annotations=FLAGS.coco_annotations,
                 split_ids=FLAGS.split_ids, predictions=FLAGS.predictions)
        return scoring.score_vcoco(FLAGS.vcoco_annotations, FLAGS.coco_annotations, FLAGS.split_ids,
                                   FLAGS.predictions, output, plots_dir=plots)
    _require(annotations=FLAGS.annotations, train_annotations=FLAGS.train_annotations, predictions=FLAGS.predictions)
    return scoring.score_hico(FLAGS.annotations, FLAGS.train_annotations, FLAGS.predictions, output,
                              plots_dir=plots, max_per_image=FLAGS.max_per_image or None)


def evaluate_checkpoint(output: str) -> dict:
    from calipso_tf.data import manifest as manifest_lib
    from calipso_tf.inference import model_evaluation
    from calipso_tf.training import checkpoints

    model, config = checkpoints.load_model(FLAGS.checkpoint, FLAGS.config, config_overrides())
    manifest = manifest_lib.load(config.data.data_dir)
    split = FLAGS.split or config.data.eval_split
    common = dict(detections=FLAGS.detections, batch_size=FLAGS.batch_size, plots=FLAGS.plots,
                  contact_sheet=FLAGS.contact_sheet)
    if FLAGS.dataset != "vcoco":
        return model_evaluation.evaluate_hico_model(
            model, config, manifest, split, output, max_per_image=FLAGS.max_per_image,
            shuffled_baseline=FLAGS.shuffled_baseline, annotations=FLAGS.annotations,
            train_annotations=FLAGS.train_annotations, **common)
    try:
        return model_evaluation.evaluate_vcoco_model(
            model, config, manifest, split, output, vcoco_annotations=FLAGS.vcoco_annotations,
            coco_annotations=FLAGS.coco_annotations, split_ids=FLAGS.split_ids, **common)
    except model_evaluation.MissingInputsError as e:
        raise _missing_flags_error(e.names) from e


def main(argv):
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if FLAGS.checkpoint:
        output = FLAGS.output or os.path.join(FLAGS.checkpoint if os.path.isdir(FLAGS.checkpoint) else ".",
                                              "eval", "metrics.json")
        evaluate_checkpoint(output)
    elif FLAGS.predictions:
        score_file(FLAGS.output or "metrics.json")
    else:
        raise app.UsageError("give --predictions (score a file) or --checkpoint (evaluate a model)")


if __name__ == "__main__":
    run(main)
