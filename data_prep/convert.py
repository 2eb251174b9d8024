"""One dataset conversion: read the annotations, write the TFRecord shards, then the manifest.

``convert_dataset(Conversion(...))`` is what ``python -m data_prep`` runs; library callers
(``data_prep.synthetic.prepare``) call it in-process with the same defaults.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from calipso_tf import fileio
from calipso_tf.config import DataConfig
from calipso_tf.data import manifest as manifest_lib
from data_prep import cleaning, hico_det, shards, vcoco
from data_prep.source import DataError, DatasetSource
from data_prep.synthetic import generator, reader

log = logging.getLogger("data_prep")

DEFAULT_MERGE_IOU = {"hico_det": 0.7, "synthetic": 0.7, "vcoco": 0.0}  # also the supported datasets
STATISTICS_SPLIT = {"vcoco": vcoco.TRAIN_SPLIT}  # the split trained on, where not "train": L_v, HOI counts


@dataclasses.dataclass(frozen=True)
class Conversion:
    """What to convert and how; each field is the ``python -m data_prep`` flag of the same name (see --help).

    merge_iou None takes DEFAULT_MERGE_IOU[dataset]. synthetic_train / synthetic_test: images generated
    (at generator.DEFAULT_IMAGE_SIZE, seed 0) when a synthetic conversion has no annotations.
    """

    dataset: str
    output: str
    annotations: str | None = None
    images: str | None = None
    num_shards: int = 8
    workers: int = min(os.cpu_count() or 1, 8)
    strict: bool = False
    merge_iou: float | None = None
    snap_detections: str | None = None
    snap_iou: float = 0.7
    clip_tolerance: float = 2.0
    verb_names: str | None = None
    force: bool = False
    synthetic_train: int = DataConfig.synthetic_num_train
    synthetic_test: int = DataConfig.synthetic_num_test
    progress: bool = True


def _write_eval_annotations(source: DatasetSource, output: str) -> None:
    """Writes the .mat or UPT/PViC content in the PPDM/QPIC JSON layout (annotations/*_hico.json) for the
    evaluator, which reads that layout."""
    for split in source.splits:
        split.annotations = os.path.join(output, "annotations", hico_det.SPLITS[split.name][0])
        fileio.write_json_atomic(split.annotations, hico_det.to_json_layout(split.records))


def read_source(request: Conversion) -> DatasetSource:
    """The dataset's splits and records; a synthetic one is generated under OUTPUT/source without annotations."""
    if request.dataset == "vcoco":
        return vcoco.read_vcoco(request.annotations, request.images, request.strict)
    if request.dataset == "synthetic":
        root = request.annotations or os.path.join(request.output, "source")
        if not request.annotations:
            generator.generate(root, request.synthetic_train, request.synthetic_test, workers=request.workers,
                               progress=True)
        return reader.read_synthetic(root, request.images, request.strict)
    if request.annotations.endswith(".mat"):
        source = hico_det.read_mat_layout(request.annotations, request.images, request.strict)
    elif hico_det.json_layout(request.annotations) == "upt":
        source = hico_det.read_upt_layout(request.annotations, request.images,
                                          hico_det.hico_verbs(request.verb_names), request.strict)
    else:
        return hico_det.read_json_layout(request.annotations, request.images,
                                         hico_det.hico_verbs(request.verb_names), hico_det.COCO_OBJECTS,
                                         request.strict)
    _write_eval_annotations(source, request.output)
    return source


def _require_records(split: str, source: str, read: int, usable: int, skipped: dict) -> None:
    """DataError naming the split when it has no record to train or evaluate on."""
    if not usable:
        raise DataError(f"{source}: split {split!r} has no record to write ({read} read, skipped: "
                        f"{dict(skipped) or 'none'}); no manifest written")


def convert_dataset(request: Conversion) -> manifest_lib.Manifest:
    """Reads, writes the shards, then the manifest (last, atomically) under request.output; returns the manifest.

    Logs (logger "data_prep") warnings about the input and one INFO line per split; raises
    DataError (a split without records, or any bad record in strict mode) or FileNotFoundError
    on bad input. An earlier manifest there is removed before the first shard changes.
    """
    source = read_source(request)
    for split in source.splits:
        for warning in split.issues.warnings:
            log.warning("%s", warning)
        _require_records(split.name, split.source, len(split.records) + sum(split.issues.skipped.values()),
                         len(split.records), split.issues.skipped)
    merge_iou = DEFAULT_MERGE_IOU[request.dataset] if request.merge_iou is None else request.merge_iou
    options = shards.Options(merge_iou, request.snap_iou, request.clip_tolerance, request.strict)
    detections = cleaning.load_detections(request.snap_detections) if request.snap_detections else None
    old_manifest = os.path.join(request.output, manifest_lib.MANIFEST_NAME)
    if os.path.exists(old_manifest):
        os.remove(old_manifest)  # it describes the shards about to be rewritten
    summaries = shards.write_shards(source, request.output, request.num_shards, request.workers, options, detections,
                                    request.force, progress=request.progress)
    snap_file = os.path.abspath(request.snap_detections) if request.snap_detections else ""
    manifest = shards.build_manifest(source, summaries, {**dataclasses.asdict(options), "snap_detections": snap_file},
                                     STATISTICS_SPLIT.get(request.dataset, "train"))
    for split in source.splits:
        stats = manifest.statistics["splits"][split.name]
        _require_records(split.name, split.source, stats["records_read"], stats["records_written"], stats["skipped"])
    path = manifest_lib.save(manifest, request.output)
    for name, stats in manifest.statistics["splits"].items():
        log.info("%s: wrote %d of %d records; skipped %s; counts %s", name, stats["records_written"],
                 stats["records_read"], stats["skipped"] or "none", stats["counts"] or "none")
    log.info("manifest: %s", path)
    return manifest
