"""Parallel TFRecord shard writer and manifest builder.

Each split is cut into contiguous shards ``{split}-{i:05d}-of-{n:05d}.tfrecord``. A worker
process writes one shard at a time: for each record it reads and decodes the image,
snaps, clips, validates and merges boxes (data_prep.cleaning), then serialises it. A
shard is written to a temporary name and renamed when complete; a sidecar
``.state/<shard>.json`` keeps the fingerprint of everything that went into it (records,
detections, options) and its summary, so a rerun with identical inputs skips it.
Images themselves are not fingerprinted: use ``force`` after changing image files.
A strict-mode DataError removes every shard the run was to write, finished or not.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import hashlib
import io
import json
import logging
import multiprocessing
import os
import pickle
import re

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from calipso_tf import fileio
from calipso_tf.constants import NO_TARGET, RARE_THRESHOLD
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.data.records import HoiRecord, serialize
from data_prep import cleaning
from data_prep.source import DataError, DatasetSource, Issues

log = logging.getLogger("data_prep")

STATE_DIR = ".state"
SCHEMA_FIELD = re.compile(r"objects/bbox|objects/category_id|hoi/subject|hoi/object|hoi/verb")


@dataclasses.dataclass(frozen=True)
class Options:
    """merge_iou <= 0 disables merging; snap_iou applies when detections are given; clip_tolerance in px."""

    merge_iou: float
    snap_iou: float
    clip_tolerance: float
    strict: bool


@dataclasses.dataclass
class ShardTask:
    """One shard to write. detections: file name -> (boxes (D, 4), category ids (D,)) for its records."""

    path: str
    split: str
    source: str
    records: list[HoiRecord]
    image_dirs: list[str]
    detections: dict[str, tuple[np.ndarray, np.ndarray]]
    verb_ids: tuple[int, ...]
    category_ids: tuple[int, ...]
    person_id: int
    options: Options

    def fingerprint(self) -> str:
        return hashlib.sha256(pickle.dumps(self)).hexdigest()


@dataclasses.dataclass
class ShardSummary:
    """What a written shard holds: examples, skips by reason, cleaning counts, "object_id,verb_id" counts,
    and its largest records: "boxes" / "triplets" -> [count, file name of the first record holding it]."""

    num_examples: int = 0
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    hoi_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    largest: dict[str, list] = dataclasses.field(default_factory=dict)


def keep_largest(largest: dict[str, list], kind: str, count: int, filename: str) -> None:
    """Sets largest[kind] to [count, filename] when count exceeds the one kept (the first largest stays)."""
    if kind not in largest or count > largest[kind][0]:
        largest[kind] = [count, filename]


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


# ----------------------------------------------------------------------------- one record

def _load_image(path: str) -> tuple[bytes, int, int, bool]:
    """Reads and fully decodes an image -> (bytes, width, height, re-encoded).

    JPEG (RGB / grey) and PNG bytes are kept; anything else (CMYK JPEG, GIF, ...) is
    re-encoded as RGB JPEG so that tf.io.decode_image reads every record. Raises OSError.
    """
    with open(path, "rb") as f:
        data = f.read()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        width, height = image.size
        if image.format == "PNG" or (image.format == "JPEG" and image.mode in ("RGB", "L")):
            return data, width, height, False
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue(), width, height, True


def _prepare(record: HoiRecord, task: ShardTask, issues: Issues, counts: collections.Counter) -> HoiRecord | None:
    """Image bytes + checks + cleaning for one record; None when skipped (via issues)."""
    where = f"{task.source}: record {record.filename!r} (image id {record.image_id})"
    paths = [p for p in (os.path.join(d, record.filename) for d in task.image_dirs) if os.path.isfile(p)]
    if not paths:
        issues.skip("missing_image", f"{where}: image/filename not found in {task.image_dirs}")
        return None
    try:
        encoded, width, height, reencoded = _load_image(paths[0])
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        issues.skip("corrupt_image", f"{where}: image/encoded {paths[0]} cannot be decoded ({e})")
        return None
    if record.width and (record.width, record.height) != (width, height):
        issues.skip("size_mismatch", f"{where}: image/width x image/height is {record.width}x{record.height} in the "
                                     f"annotations but {width}x{height} in {paths[0]}")
        return None
    counts["images_reencoded"] += reencoded
    record = dataclasses.replace(record, width=width, height=height, encoded_image=encoded)
    if record.filename in task.detections:
        record, snapped = cleaning.snap_to_detections(record, *task.detections[record.filename], task.options.snap_iou)
        counts["boxes_snapped"] += snapped
    record, clipped = cleaning.clip_to_image(record, task.options.clip_tolerance)
    counts["boxes_clipped"] += clipped
    try:
        record.validate(len(task.verb_ids), set(task.category_ids), source=task.source)
    except ValueError as e:
        field = SCHEMA_FIELD.search(str(e))
        issues.skip(f"invalid {field.group(0) if field else 'record'}", str(e))
        return None
    triplets = np.asarray(record.triplets, np.int64).reshape(-1, 3)
    categories = np.asarray(record.category_ids, np.int64)
    if not len(categories):
        issues.skip("empty", f"{where}: no annotations (no objects/bbox)")
        return None
    not_person = np.flatnonzero(categories[triplets[:, 0]] != task.person_id)
    if not_person.size:
        k = not_person[0]
        issues.skip("subject_not_person", f"{where}: hoi/subject of triplet {k} is box {triplets[k, 0]} of category "
                                          f"{categories[triplets[k, 0]]}, not a person ({task.person_id})")
        return None
    if task.options.merge_iou > 0:
        record, merged, dropped = cleaning.merge_duplicates(record, task.options.merge_iou)
        counts["boxes_merged"] += merged
        counts["triplets_deduplicated"] += dropped
    return record


def _hoi_keys(record: HoiRecord, verb_ids: tuple[int, ...]) -> list[str]:
    """"object_id,verb_id" of each triplet; object_id -1 for a verb without target."""
    triplets = np.asarray(record.triplets, np.int64).reshape(-1, 3)
    objects = np.where(triplets[:, 1] == NO_TARGET, NO_TARGET, np.asarray(record.category_ids)[triplets[:, 1]])
    return [f"{o},{verb_ids[v]}" for o, v in zip(objects.tolist(), triplets[:, 2].tolist())]


def write_shard(task: ShardTask) -> ShardSummary:
    """Writes one shard atomically (temp file, then rename); raises DataError in strict mode."""
    issues, counts, hoi_counts = Issues(task.options.strict), collections.Counter(), collections.Counter()
    largest = {}
    tmp = os.path.join(os.path.dirname(task.path), f".tmp-{os.path.basename(task.path)}")
    written = 0
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in task.records:
                record = _prepare(record, task, issues, counts)
                if record is not None:
                    writer.write(serialize(record))
                    hoi_counts.update(_hoi_keys(record, task.verb_ids))
                    keep_largest(largest, "boxes", len(record.category_ids), record.filename)
                    keep_largest(largest, "triplets", len(np.reshape(record.triplets, (-1, 3))), record.filename)
                    written += 1
        os.replace(tmp, task.path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return ShardSummary(written, dict(issues.skipped), {k: v for k, v in counts.items() if v}, dict(hoi_counts),
                        issues.warnings, largest)


# ----------------------------------------------------------------------------- dataset

def _tasks(source: DatasetSource, output: str, num_shards: int, options: Options,
           detections: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, list[ShardTask]]:
    """Split name -> its shard tasks (at most num_shards, none empty unless the split is)."""
    verb_ids = tuple(v.id for v in source.verbs)
    category_ids = tuple(c.id for c in source.objects)
    tasks = collections.defaultdict(list)
    for split in source.splits:
        count = max(1, min(num_shards, len(split.records)))
        for i, chunk in enumerate(np.array_split(np.arange(len(split.records)), count)):
            records = [split.records[j] for j in chunk]
            shard_detections = {r.filename: detections[r.filename] for r in records if r.filename in detections}
            tasks[split.name].append(ShardTask(
                os.path.join(output, shard_name(split.name, i, count)), split.name, split.source, records,
                split.image_dirs, shard_detections, verb_ids, category_ids, source.person_category_id, options))
    return tasks


def _remove_shard(path: str) -> None:
    """Deletes a shard and its state, where they exist."""
    for file in (path, _state_path(path)):
        if os.path.exists(file):
            os.remove(file)


def _remove_temporary(output: str, splits: list[str]) -> None:
    """Deletes the temporary shards of these splits (a run interrupted, or its workers terminated)."""
    for split in splits:
        for path in glob.glob(os.path.join(output, f".tmp-{split}-?????-of-?????.tfrecord")):
            os.remove(path)


def _remove_stale(output: str, splits: list[str], keep: set[str]) -> None:
    """Deletes shards (and their state) of these splits left by a run with another shard count,
    and temporary shards of an interrupted run."""
    _remove_temporary(output, splits)
    for split in splits:
        for path in glob.glob(os.path.join(output, f"{split}-?????-of-?????.tfrecord")):
            if os.path.basename(path) not in keep:
                log.info("removing stale shard %s", path)
                _remove_shard(path)


def _state_path(shard_path: str) -> str:
    return os.path.join(os.path.dirname(shard_path), STATE_DIR, os.path.basename(shard_path) + ".json")


def _finished(task: ShardTask, fingerprint: str) -> ShardSummary | None:
    """The stored summary if the shard exists and was written from identical inputs (and its state
    holds every summary field: one of an earlier version is rewritten)."""
    state = _state_path(task.path)
    if not (os.path.exists(task.path) and os.path.exists(state)):
        return None
    with open(state) as f:
        stored = json.load(f)
    complete = set(stored.get("summary", {})) == {field.name for field in dataclasses.fields(ShardSummary)}
    return ShardSummary(**stored["summary"]) if complete and stored.get("fingerprint") == fingerprint else None


def _write_indexed(item: tuple[int, ShardTask]) -> tuple[int, ShardSummary]:
    return item[0], write_shard(item[1])


def _run(pending: list[ShardTask], workers: int):
    """Yields (task, summary) as shards complete; one process per shard at a time when workers > 1."""
    if workers <= 1 or len(pending) <= 1:
        for task in pending:
            yield task, write_shard(task)
        return
    context = multiprocessing.get_context("forkserver")  # children never inherit a live TF runtime
    context.set_forkserver_preload(["data_prep.shards"])
    with context.Pool(min(workers, len(pending))) as pool:
        for index, summary in pool.imap_unordered(_write_indexed, list(enumerate(pending))):
            yield pending[index], summary


def write_shards(source: DatasetSource, output: str, num_shards: int, workers: int, options: Options,
                 detections: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, force: bool = False,
                 progress: bool = True) -> dict[str, list[ShardSummary]]:
    """Writes every split's shards under output; returns split -> shard summaries in shard order."""
    os.makedirs(os.path.join(output, STATE_DIR), exist_ok=True)
    tasks = _tasks(source, output, num_shards, options, detections or {})
    _remove_stale(output, list(tasks), {os.path.basename(t.path) for ts in tasks.values() for t in ts})
    summaries: dict[str, ShardSummary] = {}
    pending, fingerprints = [], {}
    for task in (t for ts in tasks.values() for t in ts):
        fingerprints[task.path] = task.fingerprint()
        done = None if force else _finished(task, fingerprints[task.path])
        if done is None:
            pending.append(task)
        else:
            summaries[task.path] = done
    if summaries:
        log.info("%d of %d shards are up to date; writing %d", len(summaries), len(fingerprints), len(pending))
    total = sum(len(t.records) for t in pending)
    try:
        with tqdm(total=total, unit="img", desc="writing shards", disable=not progress or not pending) as bar:
            for task, summary in _run(pending, workers):
                state = {"fingerprint": fingerprints[task.path], "summary": dataclasses.asdict(summary)}
                fileio.write_json_atomic(_state_path(task.path), state)
                summaries[task.path] = summary
                bar.update(len(task.records))
    except DataError:
        # The pool is terminated by now: no worker writes any more. Leave no shard of this failed run.
        for task in pending:
            _remove_shard(task.path)
        _remove_temporary(output, list(tasks))
        raise
    for path in sorted(summaries):
        for warning in summaries[path].warnings:
            log.warning("%s", warning)
    return {split: [summaries[t.path] for t in ts] for split, ts in tasks.items()}


def _hoi_order(key: str) -> tuple[int, int]:
    object_id, verb_id = key.split(",")
    return int(object_id), int(verb_id)


def _evaluation_file(split) -> str:
    """The split's ground-truth file for evaluation: its annotations, else its source file, else ""
    (a split made of several sources, such as V-COCO's trainval)."""
    path = split.annotations or split.source
    return os.path.abspath(path) if os.path.isfile(path) else ""


def build_manifest(source: DatasetSource, summaries: dict[str, list[ShardSummary]], options: dict,
                   statistics_split: str = "train") -> manifest_lib.Manifest:
    """Manifest from the written shards' summaries; L_v and HOI counts come from statistics_split, the split
    trained on."""
    train_counts = collections.Counter()
    seen = set()
    for split, shard_summaries in summaries.items():
        for summary in shard_summaries:
            seen.update(summary.hoi_counts)
            if split == statistics_split:
                train_counts.update(summary.hoi_counts)
    targets = collections.defaultdict(set)
    for key in train_counts:
        object_id, verb_id = _hoi_order(key)
        if object_id != NO_TARGET:
            targets[verb_id].add(object_id)
    statistics, splits = {}, {}
    for split in source.splits:
        shard_summaries = summaries[split.name]
        skipped = collections.Counter(split.issues.skipped)
        counts = collections.Counter(split.counts)
        largest = {}
        for summary in shard_summaries:
            skipped.update(summary.skipped)
            counts.update(summary.counts)
            for kind, (most, filename) in summary.largest.items():
                keep_largest(largest, kind, most, filename)
        written = sum(s.num_examples for s in shard_summaries)
        statistics[split.name] = {"records_read": len(split.records) + sum(split.issues.skipped.values()),
                                  "records_written": written, "skipped": dict(sorted(skipped.items())),
                                  "counts": dict(sorted(counts.items()))}
        count = len(shard_summaries)
        (boxes, boxes_record), (triplets, triplets_record) = (largest.get(k, (0, "")) for k in ("boxes", "triplets"))
        splits[split.name] = manifest_lib.Split(
            shards=[shard_name(split.name, i, count) for i in range(count)], num_examples=written,
            annotations=_evaluation_file(split),
            instances=os.path.abspath(split.instances) if split.instances else "",
            image_ids=os.path.abspath(split.image_ids) if split.image_ids else "",
            max_boxes=boxes, max_boxes_record=boxes_record, max_triplets=triplets, max_triplets_record=triplets_record)
    return manifest_lib.Manifest(
        dataset=source.name, verbs=source.verbs, objects=source.objects, splits=splits,
        verb_target_categories=[sorted(targets[v.id]) for v in source.verbs],
        hoi_train_counts={k: train_counts[k] for k in sorted(train_counts, key=_hoi_order)},
        rare_hois=sorted((k for k in seen if train_counts[k] < RARE_THRESHOLD), key=_hoi_order),
        non_rare_hois=sorted((k for k in seen if train_counts[k] >= RARE_THRESHOLD), key=_hoi_order),
        person_category_id=source.person_category_id, statistics_split=statistics_split,
        statistics={"options": options, "rare_threshold": RARE_THRESHOLD, "splits": statistics})
