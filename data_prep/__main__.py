"""Command line: ``python -m data_prep --dataset hico_det|vcoco|synthetic ...`` (see --help, docs/DATA.md)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from calipso_tf import fileio
from calipso_tf.data import manifest as manifest_lib
from data_prep import cleaning, hico_det, shards, synthetic, vcoco
from data_prep.source import DataError, DatasetSource

log = logging.getLogger("data_prep")

DEFAULT_MERGE_IOU = {"hico_det": 0.7, "synthetic": 0.7, "vcoco": 0.0}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Convert an HOI dataset into sharded TFRecords and a manifest.json (docs/DATA.md).")
    parser.add_argument("--dataset", required=True, choices=sorted(DEFAULT_MERGE_IOU))
    parser.add_argument("--annotations", help=(
        "hico_det: anno_bbox.mat, or the folder holding trainval_hico.json and test_hico.json; "
        "vcoco: the v-coco 'data' folder (vcoco/, splits/, instances_vcoco_all_2014.json); "
        "synthetic: the dataset root, generated under OUTPUT/source when omitted"))
    parser.add_argument("--images", help=(
        "hico_det: the folder holding train2015/ and test2015/; vcoco: the COCO image folder (files directly "
        "or in train2014/, val2014/); synthetic: defaults to ANNOTATIONS/images"))
    parser.add_argument("--output", required=True, help="folder for the shards and manifest.json")
    parser.add_argument("--num-shards", type=int, default=8,
                        help="shards per split, fewer if it has fewer images (default %(default)s)")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8),
                        help="writer processes (default %(default)s)")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad record instead of skipping it")
    parser.add_argument("--merge-iou", type=float, default=None,
                        help="merge same-class boxes with IoU >= this; 0 disables "
                             "(default 0.7 for hico_det and synthetic, 0 for vcoco)")
    parser.add_argument("--snap-detections", metavar="FILE",
                        help="detections JSON [{file_name, boxes, category_ids, scores}] to snap boxes onto")
    parser.add_argument("--snap-iou", type=float, default=0.7,
                        help="IoU a detection needs to take over a box (default %(default)s)")
    parser.add_argument("--clip-tolerance", type=float, default=2.0,
                        help="boxes leaving the image by at most this many px are clipped, further out is an "
                             "error (default %(default)s)")
    parser.add_argument("--verb-names", metavar="FILE",
                        help="hico_det JSON layout: JSON list of the 117 verb names in id order (else verb_<id>)")
    parser.add_argument("--force", action="store_true", help="rewrite every shard even if it is up to date")
    parser.add_argument("--synthetic-train", type=int, default=512,
                        help="images generated for the synthetic train split (default %(default)s)")
    parser.add_argument("--synthetic-test", type=int, default=128,
                        help="images generated for the synthetic test split (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.num_shards < 1 or args.workers < 1:
        parser.error("--num-shards and --workers must be at least 1")
    if args.dataset != "synthetic" and not (args.annotations and args.images):
        parser.error(f"--dataset {args.dataset} needs --annotations and --images")
    return args


def _write_eval_annotations(source: DatasetSource, output: str) -> None:
    """Writes the .mat content in the JSON layout (annotations/*_hico.json) for the evaluator."""
    for split in source.splits:
        split.annotations = os.path.join(output, "annotations", hico_det.SPLITS[split.name][0])
        fileio.write_json_atomic(split.annotations, hico_det.to_json_layout(split.records))


def read_source(args: argparse.Namespace) -> DatasetSource:
    if args.dataset == "vcoco":
        return vcoco.read_vcoco(args.annotations, args.images, args.strict)
    if args.dataset == "synthetic":
        root = args.annotations or os.path.join(args.output, "source")
        if not args.annotations:
            synthetic.generate(root, args.synthetic_train, args.synthetic_test, args.workers)
        return synthetic.read_synthetic(root, args.images, args.strict)
    if args.annotations.endswith(".mat"):
        source = hico_det.read_mat_layout(args.annotations, args.images, args.strict)
        _write_eval_annotations(source, args.output)
        return source
    return hico_det.read_json_layout(args.annotations, args.images, hico_det.hico_verbs(args.verb_names),
                                     hico_det.COCO_OBJECTS, args.strict)


def convert(args: argparse.Namespace) -> manifest_lib.Manifest:
    """Reads, writes the shards, then the manifest (last, atomically); returns the manifest."""
    source = read_source(args)
    for split in source.splits:
        for warning in split.issues.warnings:
            log.warning("%s", warning)
    merge_iou = DEFAULT_MERGE_IOU[args.dataset] if args.merge_iou is None else args.merge_iou
    options = shards.Options(merge_iou, args.snap_iou, args.clip_tolerance, args.strict)
    detections = cleaning.load_detections(args.snap_detections) if args.snap_detections else None
    summaries = shards.write_shards(source, args.output, args.num_shards, args.workers, options, detections,
                                    args.force, progress=not args.no_progress)
    snap_file = os.path.abspath(args.snap_detections) if args.snap_detections else ""
    manifest = shards.build_manifest(source, summaries, {**dataclasses.asdict(options), "snap_detections": snap_file})
    path = manifest_lib.save(manifest, args.output)
    for name, stats in manifest.statistics["splits"].items():
        log.info("%s: wrote %d of %d records; skipped %s; counts %s", name, stats["records_written"],
                 stats["records_read"], stats["skipped"] or "none", stats["counts"] or "none")
    log.info("manifest: %s", path)
    return manifest


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        convert(args)
    except (DataError, FileNotFoundError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
