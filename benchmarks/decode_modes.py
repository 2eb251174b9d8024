"""HICO-DET-layout mAP of a trained model under each decoding choice: candidates best / all, with and
without the valid (verb, object) mask.

  python -m benchmarks.decode_modes --checkpoint RUN_DIR [--split test] [--detections gt] \
      [--output benchmarks/results/decode_modes.json]

Decodes the split once per combination through the evaluation code path
(`runner.predict_split` -> `evaluation.hico.evaluate_hico`, top 100 per image) and prints
mAP (Default, Known Object), mean max recall and triplets per image; writes them as JSON
when --output is given. The mask is the dataset's (`valid_pairs.valid_pair_mask`).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from benchmarks.common import describe_device
from calipso_tf.constants import CANDIDATE_MODES
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.evaluation.hico import evaluate_hico
from calipso_tf.fileio import load_json, write_json_atomic
from calipso_tf.inference import detectors, runner
from calipso_tf.inference.valid_pairs import valid_pair_mask
from calipso_tf.training import checkpoints


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="run dir or checkpoint prefix")
    parser.add_argument("--split", default=None, help="default: the config's data.eval_split")
    parser.add_argument("--detections", default="gt", help="detector source spec, as evaluate.py --detections")
    parser.add_argument("--set", action="append", default=[], help="config override section.field=value")
    parser.add_argument("--output", default=None, help="JSON results file")
    args = parser.parse_args(argv)
    model, config = checkpoints.load_model(args.checkpoint, None, args.set)
    manifest = manifest_lib.load(config.data.data_dir)
    split = args.split or config.data.eval_split
    test = load_json(manifest.splits[split].annotations)
    train = load_json(manifest.splits[config.data.train_split].annotations)
    source = detectors.make_source(args.detections, annotations=manifest.splits[split].annotations,
                                   score_threshold=config.inference.detection_score_threshold,
                                   **detectors.format_options(config.inference))
    mask = valid_pair_mask(manifest)
    rows = []
    for candidates, masked in itertools.product(CANDIDATE_MODES, (False, True)):
        predictions = runner.predict_split(model, config, source, split, progress=False,
                                           valid_pairs=mask if masked else None, candidates=candidates)
        metrics = evaluate_hico(test, train, predictions)
        rows.append({"candidates": candidates, "mask": masked, "mAP_full": metrics.mAP_full,
                     "mAP_full_known_object": metrics.mAP_full_known_object,
                     "mean_max_recall": metrics.mean_max_recall,
                     "triplets_per_image": float(np.mean([len(p["hoi_prediction"]) for p in predictions]))})
    device = describe_device()
    print(f"device: {device}; {args.checkpoint}, split {split} ({len(test)} images), detections {args.detections}")
    print("| candidates | mask | mAP Default | mAP Known Object | mean max recall | triplets / image |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['candidates']} | {'yes' if r['mask'] else 'no'} | {r['mAP_full']:.2f} | "
              f"{r['mAP_full_known_object']:.2f} | {r['mean_max_recall']:.2f} | {r['triplets_per_image']:.1f} |")
    if args.output:
        write_json_atomic(args.output, {"device": device, "checkpoint": args.checkpoint, "split": split,
                                        "detections": args.detections, "rows": rows})
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
