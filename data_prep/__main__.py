"""Command line: ``python -m data_prep --dataset hico_det|vcoco|synthetic ...`` (see --help, docs/DATA.md)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from data_prep.convert import DEFAULT_MERGE_IOU, Conversion, convert_dataset
from data_prep.source import DataError
from data_prep.synthetic.generator import DEFAULT_IMAGE_SIZE

log = logging.getLogger("data_prep")

DEFAULTS = {field.name: field.default for field in dataclasses.fields(Conversion)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Convert an HOI dataset into sharded TFRecords and a manifest.json (docs/DATA.md).")
    parser.add_argument("--dataset", required=True, choices=sorted(DEFAULT_MERGE_IOU))
    parser.add_argument("--annotations", help=(
        "hico_det: anno_bbox.mat, or the folder holding trainval_hico.json and test_hico.json (PPDM/QPIC) "
        "or instances_train2015.json and instances_test2015.json (UPT/PViC); "
        "vcoco: the v-coco 'data' folder (vcoco/, splits/, instances_vcoco_all_2014.json); "
        "synthetic: the dataset root, generated under OUTPUT/source when omitted"))
    parser.add_argument("--images", help=(
        "hico_det: the folder holding train2015/ and test2015/; vcoco: the COCO image folder (files directly "
        "or in train2014/, val2014/); synthetic: defaults to ANNOTATIONS/images"))
    parser.add_argument("--output", required=True, help="folder for the shards and manifest.json")
    parser.add_argument("--num-shards", type=int, default=DEFAULTS["num_shards"],
                        help="shards per split, fewer if it has fewer images (default %(default)s)")
    parser.add_argument("--workers", type=int, default=DEFAULTS["workers"],
                        help="writer processes (default %(default)s)")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad record instead of skipping it")
    parser.add_argument("--merge-iou", type=float, default=None,
                        help="merge same-class boxes with IoU >= this; 0 disables "
                             "(default 0.7 for hico_det and synthetic, 0 for vcoco)")
    parser.add_argument("--snap-detections", metavar="FILE",
                        help="detections JSON [{file_name, boxes, category_ids, scores}] to snap boxes onto")
    parser.add_argument("--snap-iou", type=float, default=DEFAULTS["snap_iou"],
                        help="IoU a detection needs to take over a box (default %(default)s)")
    parser.add_argument("--clip-tolerance", type=float, default=DEFAULTS["clip_tolerance"],
                        help="boxes leaving the image by at most this many px are clipped, further out is an "
                             "error (default %(default)s)")
    parser.add_argument("--verb-names", metavar="FILE",
                        help="hico_det JSON layouts: JSON list of the 117 verb names in id order, overriding "
                             "the HICO-DET names shipped in calipso_tf/vocabularies")
    parser.add_argument("--force", action="store_true", help="rewrite every shard even if it is up to date")
    generated = f"without --annotations, at {DEFAULT_IMAGE_SIZE[0]}x{DEFAULT_IMAGE_SIZE[1]} px, seed 0"
    parser.add_argument("--synthetic-train", type=int, default=DEFAULTS["synthetic_train"],
                        help=f"images generated for the synthetic train split {generated} (default %(default)s, "
                             "data.synthetic_num_train of calipso_tf.config.DataConfig)")
    parser.add_argument("--synthetic-test", type=int, default=DEFAULTS["synthetic_test"],
                        help=f"images generated for the synthetic test split {generated} (default %(default)s, "
                             "data.synthetic_num_test of calipso_tf.config.DataConfig)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.num_shards < 1 or args.workers < 1:
        parser.error("--num-shards and --workers must be at least 1")
    if args.dataset != "synthetic" and not (args.annotations and args.images):
        parser.error(f"--dataset {args.dataset} needs --annotations and --images")
    return args


def to_conversion(args: argparse.Namespace) -> Conversion:
    """Parsed flags -> the conversion they ask for."""
    flags = {k: v for k, v in vars(args).items() if k != "no_progress"}
    return Conversion(**flags, progress=not args.no_progress)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        convert_dataset(to_conversion(args))
    except (DataError, FileNotFoundError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
