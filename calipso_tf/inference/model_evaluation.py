"""Evaluating a trained model: inference over a split -> predictions in the official layout -> metrics.

Both protocols write their predictions next to the metrics file: HICO-DET
predictions.json (PPDM layout), V-COCO detections.pkl (the official pickle).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Callable, Iterable, Iterator

import numpy as np

from calipso_tf.config import Config
from calipso_tf.data import records
from calipso_tf.data.manifest import Manifest
from calipso_tf.evaluation import hico, scoring, vcoco
from calipso_tf.evaluation.report import write_metrics_json
from calipso_tf.fileio import atomic_write, load_json
from calipso_tf.inference import detectors, hico_output, runner, vcoco_output
from calipso_tf.visualization.contact_sheet import SHEET_IMAGES, select_extremes, write_contact_sheet
from calipso_tf.inference.valid_pairs import valid_pair_mask

log = logging.getLogger("calipso_tf")

CONTACT_SHEET = "contact_sheet.png"  # model evaluation, next to the metrics


class MissingInputsError(ValueError):
    """Inputs neither given nor named by the manifest; ``names``: the missing arguments' names."""

    def __init__(self, names: list[str]):
        super().__init__(f"missing {', '.join(names)}")
        self.names = names


def evaluate_hico_model(model, config: Config, manifest: Manifest, split: str, output: str, detections: str = "gt",
                        batch_size: int = 8, max_per_image: int | None = 100, plots: bool = True,
                        shuffled_baseline: bool = True, annotations: str | None = None,
                        train_annotations: str | None = None, contact_sheet: bool = True) -> dict:
    """HICO-DET: writes predictions.json next to ``output`` (the metrics JSON path), scores it.

    Decoding ranks only the dataset's valid (verb, object) pairs (`valid_pair_mask`: HICO-DET's
    600 HOI categories, so no targetless triplet; other datasets: their annotated categories)
    with inference.candidates ("best" or "all" per (person, verb)).

    Args:
      detections: the `detectors.make_source` spec; "gt" reads the test annotations' boxes.
      max_per_image: top HOIs per image kept for scoring; None or 0: no cap (as MATLAB).
      plots: also write per-category AP and precision/recall PNGs next to the metrics.
      shuffled_baseline: also write and score predictions_shuffled_partners.json
        (metrics_shuffled_partners.json), printing both mAP_full.
      annotations, train_annotations: test and training ground truth (the rare split);
        default: the manifest's files of ``split`` and of data.train_split.
      contact_sheet: also write contact_sheet.png next to the metrics (`write_hico_contact_sheet`).

    Returns:
      The metrics dict of `scoring.score_hico`, plus "detections_dropped" ({"cap", "boxes",
      "images"}: what the cap D (`runner.detection_slots`) left out, also logged as a WARNING) and
      "decoding" ({"candidates", "valid_pairs": the number of valid (verb, object or no
      target) pairs decoded, null without mask}).
    """
    test_json = annotations or manifest.splits[split].annotations
    train_json = train_annotations or manifest.splits[config.data.train_split].annotations
    # No cap at load: decode_batch applies the cap D and `dropped` counts what it leaves out.
    source = detectors.make_source(detections, annotations=test_json,
                                   score_threshold=config.inference.detection_score_threshold,
                                   **detectors.format_options(config.inference))
    dropped = runner.DroppedDetections(runner.detection_slots(config.inference.max_detections, source))
    valid_pairs = valid_pair_mask(manifest)
    predictions = runner.predict_split(model, config, source, split, batch_size, dropped=dropped,
                                       valid_pairs=valid_pairs, candidates=config.inference.candidates)
    folder = os.path.dirname(os.path.abspath(output))
    pred_path = os.path.join(folder, "predictions.json")
    atomic_write(pred_path, lambda f: json.dump(predictions, f))
    log.info("wrote %d image predictions to %s", len(predictions), pred_path)
    max_per_image = max_per_image or None
    metrics = scoring.score_hico(test_json, train_json, pred_path, output, plots_dir=folder if plots else None,
                                 max_per_image=max_per_image, verb_names={v.id: v.name for v in manifest.verbs},
                                 object_names={o.id: o.name for o in manifest.objects})
    metrics["decoding"] = {"candidates": config.inference.candidates,
                           "valid_pairs": None if valid_pairs is None else int(valid_pairs.sum())}
    _add_dropped(metrics, dropped, output)
    if contact_sheet:
        write_hico_contact_sheet(os.path.join(folder, CONTACT_SHEET), config, manifest, split, test_json,
                                 predictions, max_per_image)
    if shuffled_baseline:
        base_path = os.path.join(folder, "predictions_shuffled_partners.json")
        atomic_write(base_path, lambda f: json.dump(hico_output.shuffle_partners(predictions), f))
        baseline = scoring.score_hico(test_json, train_json, base_path,
                                      os.path.join(folder, "metrics_shuffled_partners.json"),
                                      max_per_image=max_per_image)
        print(f"shuffled-partner baseline: mAP_full = {baseline['mAP_full']:.2f}  (model: {metrics['mAP_full']:.2f})")
    return metrics


def write_hico_contact_sheet(path: str, config: Config, manifest: Manifest, split: str, annotations: str,
                             predictions: list[dict], max_per_image: int | None) -> None:
    """Writes the contact sheet of the test images ranked by per-image AP
    (`hico.image_average_precisions`; `write_ranked_contact_sheet`).

    annotations: the test ground truth (HICO-DET JSON layout); predictions: the PPDM dicts scored.
    """
    ground_truth = load_json(annotations)
    scores = hico.image_average_precisions(ground_truth, predictions, max_per_image,
                                           sources=(annotations, "", "predictions"))
    truth = {entry["file_name"]: entry for entry in ground_truth}
    predicted = {entry["file_name"]: entry for entry in predictions}
    write_ranked_contact_sheet(path, config, manifest, split, scores, "image AP", truth.__getitem__,
                               lambda name: predicted.get(name, {"file_name": name, "predictions": [],
                                                                 "hoi_prediction": []}),
                               len(ground_truth))


def write_vcoco_contact_sheet(path: str, config: Config, manifest: Manifest, split: str, gt: vcoco.VcocoGroundTruth,
                              entries: list[dict], images: list[runner.DecodedImage],
                              layout: vcoco_output.VcocoLayout) -> None:
    """Writes the contact sheet of the split images ranked by per-image role AP
    (`vcoco.image_average_precisions` of the detections pickle ``entries``;
    `write_ranked_contact_sheet`). Predicted tiles draw the decoded triplets of ``images``,
    ground-truth tiles ``gt`` (`vcoco_output.ground_truth_entry`)."""
    verb_ids = [v.id for v in manifest.verbs]
    decoded = {image.file_name: image for image in images}
    names = {image.image_id: image.file_name for image in images}
    by_id = vcoco.image_average_precisions(gt, entries)
    undecoded = sorted(set(by_id) - set(names))
    if undecoded:
        log.warning("contact sheet: %d ranked image(s) were not decoded (not in the %s shards) and are left out: %s",
                    len(undecoded), split, ", ".join(map(str, undecoded)))
    scores = {names[image_id]: score for image_id, score in by_id.items() if image_id in names}
    index = {names[image_id]: i for i, image_id in enumerate(gt.image_ids.tolist()) if image_id in names}

    def truth(name: str) -> dict:
        return vcoco_output.ground_truth_entry(gt, index[name], layout, verb_ids, name, manifest.person_category_id)

    def predicted(name: str) -> dict:
        image = decoded[name]
        return hico_output.to_hico_predictions(image.triplets, image.detections.boxes, image.detections.category_ids,
                                               name, verb_ids)

    write_ranked_contact_sheet(path, config, manifest, split, scores, "image role AP (scenario 1)", truth, predicted,
                               len(gt.image_ids) - len(undecoded))


def write_ranked_contact_sheet(path: str, config: Config, manifest: Manifest, split: str, scores: dict[str, float],
                               score_name: str, truth: Callable[[str], dict], predicted: Callable[[str], dict],
                               num_images: int) -> None:
    """Writes the contact sheet (`calipso_tf.visualization.contact_sheet`) of the SHEET_IMAGES best
    and worst of the ranked test images; the images are read from the split's shards.

    scores: file name -> per-image score (only the images with ground truth); truth, predicted:
    file name -> the image's PPDM-layout ground-truth / prediction dict, asked only for the
    images drawn; num_images: the split's test images, ranked or not.
    """
    unranked = num_images - len(scores)
    if unranked:
        log.info("contact sheet: %d of %d test images have no ground-truth triplet and are not ranked",
                 unranked, num_images)
    best, worst = select_extremes(scores, SHEET_IMAGES)
    images = records.read_images(manifest.shard_paths(split, config.data.data_dir), best + worst)

    def rows(names: list[str]) -> list[dict]:
        return [{"image": images[name], "ground_truth": truth(name), "score": scores[name],
                 "prediction": predicted(name)} for name in names if name in images]

    absent = sorted(set(best + worst) - set(images))
    if absent:
        log.warning("contact sheet: %d image(s) are not in the %s shards and are left out: %s",
                    len(absent), split, ", ".join(absent))
    height, width = write_contact_sheet(path, rows(best), rows(worst), score_name,
                                        {v.id: v.name for v in manifest.verbs})
    log.info("wrote %s (%dx%d): the %d best and %d worst of %d ranked test images", path, width, height,
             len(best), len(worst), len(scores))


def evaluate_vcoco_model(model, config: Config, manifest: Manifest, split: str, output: str, detections: str = "gt",
                         batch_size: int = 8, plots: bool = True, vcoco_annotations: str | None = None,
                         coco_annotations: str | None = None, split_ids: str | None = None,
                         contact_sheet: bool = True) -> dict:
    """V-COCO: writes the official detections.pkl next to ``output`` (the metrics JSON path), scores it.

    Args:
      detections: the `detectors.make_source` spec; "gt" reads every non-crowd box of the
        COCO instances file.
      plots: also write per-category AP and precision/recall PNGs next to the metrics.
      vcoco_annotations, coco_annotations, split_ids: vcoco_<split>.json, the COCO
        instances file and the split's image-id list; default: the manifest's files of ``split``.
      contact_sheet: also write contact_sheet.png next to the metrics (`write_vcoco_contact_sheet`).

    Returns:
      The metrics dict of `scoring.report_vcoco`, plus "detections_dropped" (as HICO-DET).
      Every (person, verb) keeps its best triplet (candidates "best", top_k = D x V), so no
      agent loses its slots: the official layout holds one target per (person, action, role).

    Raises:
      MissingInputsError: a ground-truth file is neither given nor in the manifest.
    """
    files = manifest.splits[split]
    vcoco_json = vcoco_annotations or files.annotations
    coco_json = coco_annotations or files.instances
    ids_path = split_ids or files.image_ids
    missing = [name for name, value in (("vcoco_annotations", vcoco_json), ("coco_annotations", coco_json),
                                        ("split_ids", ids_path)) if not value]
    if missing:
        raise MissingInputsError(missing)
    ground_truth = vcoco.load_vcoco_ground_truth(vcoco_json, coco_json, ids_path)  # scoring and the contact sheet
    if detections == "gt":
        source = detectors.GroundTruthDetections.from_coco(coco_json, np.loadtxt(ids_path, np.int64, ndmin=1))
    else:
        source = detectors.make_source(detections, score_threshold=config.inference.detection_score_threshold,
                                       **detectors.format_options(config.inference))
    layout = vcoco_output.VcocoLayout.from_file(vcoco_json, [v.name for v in manifest.verbs])
    dropped = runner.DroppedDetections(runner.detection_slots(config.inference.max_detections, source))
    images = runner.decode_split(model, config, source, split, batch_size, dropped=dropped,
                                 top_k=dropped.cap * manifest.num_verbs)
    decoded = []  # the contact sheet's predicted triplets
    entries = vcoco_output.to_vcoco_detections(_keeping(images, decoded) if contact_sheet else images, layout,
                                               manifest.person_category_id)
    folder = os.path.dirname(os.path.abspath(output))
    pred_path = os.path.join(folder, "detections.pkl")
    vcoco_output.write_pickle(pred_path, entries)
    log.info("wrote %d person detections to %s", len(entries), pred_path)
    metrics = scoring.report_vcoco(vcoco.evaluate_vcoco(ground_truth, entries, source=pred_path), output,
                                   plots_dir=folder if plots else None)
    _add_dropped(metrics, dropped, output)
    if contact_sheet:
        write_vcoco_contact_sheet(os.path.join(folder, CONTACT_SHEET), config, manifest, split, ground_truth, entries,
                                  decoded, layout)
    return metrics


def _keeping(images: Iterable[runner.DecodedImage], kept: list) -> Iterator[runner.DecodedImage]:
    """Yields the images, appending to ``kept`` each with only its kept triplets' indices, verbs
    and scores (copies: the decoder pads every image to D x V slots, too much to hold for a split)."""
    for image in images:
        count = int(image.triplets["num_triplets"])
        triplets = {key: np.array(image.triplets[key][:count]) for key in ("subject_index", "object_index", "verb",
                                                                            "score")}
        kept.append(dataclasses.replace(image, triplets={"num_triplets": np.int32(count), **triplets}))
        yield image


def _add_dropped(metrics: dict, dropped: runner.DroppedDetections, output: str) -> dict:
    """Adds (and logs) what the detection cap dropped to the metrics dict and its JSON at ``output``."""
    metrics["detections_dropped"] = dropped.report(output)
    write_metrics_json(metrics, output)
    return metrics
