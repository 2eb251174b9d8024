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
V-COCO writes the official detections pickle (detections.pkl, calipso_tf/vcoco_output.py)
and reads its ground truth from the manifest's split unless --vcoco-annotations,
--coco-annotations or --split-ids are given; --shuffled-baseline is HICO-DET only.
"""

from __future__ import annotations

import json
import logging
import os

from absl import app, flags

import calipso_tf  # noqa: F401  (sets KERAS_BACKEND)
from calipso_tf.cli import parse_flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "synthetic", ["hico_det", "vcoco", "synthetic"], "Evaluation protocol.")
flags.DEFINE_string("predictions", None, "Predictions to score (PPDM JSON for HICO-DET, official pickle for V-COCO).")
flags.DEFINE_string("annotations", None, "HICO-DET test annotations (test_hico.json layout).")
flags.DEFINE_string("train_annotations", None, "HICO-DET training annotations (trainval_hico.json) for the rare split.")
flags.DEFINE_string("vcoco_annotations", None, "V-COCO vcoco_<split>.json.")
flags.DEFINE_string("coco_annotations", None, "COCO instances file of the V-COCO images.")
flags.DEFINE_string("split_ids", None, "V-COCO split image-id list (vcoco_<split>.ids).")
flags.DEFINE_string("checkpoint", None, "A model dir (config.yaml + checkpoints/) or checkpoint prefix to evaluate.")
flags.DEFINE_string("config", None, "Config YAML; default: the run's frozen config.yaml.")
flags.DEFINE_multi_string("set", [], "Config override section.field=value; repeatable.")
flags.DEFINE_string("data_dir", None, "Converted dataset (manifest.json + shards); default: the config's.")
flags.DEFINE_string("split", None, "Split to evaluate; default: data.eval_split.")
flags.DEFINE_string("detections", "gt", "Boxes the maps are read at: gt, a detections JSON, or retinanet:WEIGHTS.")
flags.DEFINE_integer("batch_size", 8, "Inference batch size.")
flags.DEFINE_integer("max_per_image", 100, "HICO-DET: keep the top HOIs per image (0 = no cap, as MATLAB).")
flags.DEFINE_bool("shuffled_baseline", True,
                  "HICO-DET: also score a shuffled-partner baseline of the model's predictions.")
flags.DEFINE_string("output", None, "metrics.json path; default: <model dir>/eval/metrics.json or ./metrics.json.")
flags.DEFINE_bool("plots", True, "Write per-category AP and precision/recall PNGs next to the metrics.")

log = logging.getLogger("calipso_tf")


def _require(**values):
    missing = [f"--{k.replace('_', '-')}" for k, v in values.items() if not v]
    if missing:
        raise app.UsageError(f"--dataset {FLAGS.dataset} needs {', '.join(missing)}")


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


def evaluate_model(output: str) -> dict:
    from calipso_tf.training import checkpoints
    from calipso_tf.inference import detectors, hico_output, runner
    from calipso_tf.data import manifest as manifest_lib
    from calipso_tf.evaluation import scoring
    from calipso_tf.fileio import atomic_write

    overrides = list(FLAGS.set) + ([f"data.data_dir={FLAGS.data_dir}"] if FLAGS.data_dir else [])
    model, config = checkpoints.load_model(FLAGS.checkpoint, FLAGS.config, overrides)
    manifest = manifest_lib.load(config.data.data_dir)
    split = FLAGS.split or config.data.eval_split
    if FLAGS.dataset == "vcoco":
        return evaluate_vcoco_model(model, config, manifest, split, output)
    test_json = FLAGS.annotations or manifest.splits[split].annotations
    train_json = FLAGS.train_annotations or manifest.splits[config.data.train_split].annotations
    source = detectors.make_source(FLAGS.detections, annotations=test_json,
                                   score_threshold=config.inference.detection_score_threshold,
                                   max_detections=config.inference.max_detections)
    predictions = runner.predict_split(model, config, source, split, FLAGS.batch_size)
    folder = os.path.dirname(os.path.abspath(output))
    pred_path = os.path.join(folder, "predictions.json")
    atomic_write(pred_path, lambda f: json.dump(predictions, f))
    log.info("wrote %d image predictions to %s", len(predictions), pred_path)
    metrics = scoring.score_hico(test_json, train_json, pred_path, output, plots_dir=folder if FLAGS.plots else None,
                             max_per_image=FLAGS.max_per_image or None,
                             verb_names={v.id: v.name for v in manifest.verbs},
                             object_names={o.id: o.name for o in manifest.objects})
    if FLAGS.shuffled_baseline:
        base_path = os.path.join(folder, "predictions_shuffled_partners.json")
        atomic_write(base_path, lambda f: json.dump(hico_output.shuffle_partners(predictions), f))
        baseline = scoring.score_hico(test_json, train_json, base_path, os.path.join(folder, "metrics_shuffled_partners.json"),
                                  max_per_image=FLAGS.max_per_image or None)
        print(f"shuffled-partner baseline: mAP_full = {baseline['mAP_full']:.2f}  (model: {metrics['mAP_full']:.2f})")
    return metrics


def evaluate_vcoco_model(model, config, manifest, split: str, output: str) -> dict:
    """Inference over the split -> official detections pickle next to the metrics -> V-COCO metrics.

    The ground-truth files default to the manifest's (vcoco json, COCO instances, split ids);
    --detections gt reads every non-crowd box of the COCO instances file.
    """
    import numpy as np

    from calipso_tf.inference import detectors, runner, vcoco_output
    from calipso_tf.evaluation import scoring

    files = manifest.splits[split]
    vcoco_json = FLAGS.vcoco_annotations or files.annotations
    coco_json = FLAGS.coco_annotations or files.instances
    split_ids = FLAGS.split_ids or files.image_ids
    _require(vcoco_annotations=vcoco_json, coco_annotations=coco_json, split_ids=split_ids)
    if FLAGS.detections == "gt":
        source = detectors.GroundTruthDetections.from_coco(coco_json, np.loadtxt(split_ids, np.int64, ndmin=1))
    else:
        source = detectors.make_source(FLAGS.detections, score_threshold=config.inference.detection_score_threshold,
                                       max_detections=config.inference.max_detections)
    layout = vcoco_output.VcocoLayout.from_file(vcoco_json, [v.name for v in manifest.verbs])
    images = runner.decode_split(model, config, source, split, FLAGS.batch_size)
    detections = vcoco_output.to_vcoco_detections(images, layout, manifest.person_category_id)
    folder = os.path.dirname(os.path.abspath(output))
    pred_path = os.path.join(folder, "detections.pkl")
    vcoco_output.write_pickle(pred_path, detections)
    log.info("wrote %d person detections to %s", len(detections), pred_path)
    return scoring.score_vcoco(vcoco_json, coco_json, split_ids, pred_path, output,
                           plots_dir=folder if FLAGS.plots else None)


def main(argv):
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if FLAGS.checkpoint:
        output = FLAGS.output or os.path.join(FLAGS.checkpoint if os.path.isdir(FLAGS.checkpoint) else ".",
                                              "eval", "metrics.json")
        evaluate_model(output)
    elif FLAGS.predictions:
        score_file(FLAGS.output or "metrics.json")
    else:
        raise app.UsageError("give --predictions (score a file) or --checkpoint (evaluate a model)")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
