"""One picture at a time: a trained run + a detector source -> PPDM prediction dict and decoded triplets."""

from __future__ import annotations

import collections
import json
import os
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from calipso_tf.data import manifest as manifest_lib
from calipso_tf.fileio import atomic_write, write_json_atomic
from calipso_tf.inference import detectors, media, runner
from calipso_tf.inference.hico_output import to_hico_predictions
from calipso_tf.ops.preprocessing import fit_to_input
from calipso_tf.training import checkpoints
from calipso_tf.visualization.drawing import save_image

PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # kept by written pictures; other formats become PNG
PREDICTIONS_FILE = "predictions.json"  # every image's prediction, in the evaluators' list layout
SUMMARY_FILE = "predict_summary.json"  # counts and the files skipped as unreadable
RUN_FILES = (PREDICTIONS_FILE, SUMMARY_FILE)


class Predictor:
    """Model + detector source + decoder for one frame at a time.

    Args:
      checkpoint: a model dir (config.yaml + checkpoints/) or checkpoint prefix.
      config_path: config YAML; None: the run's frozen config.yaml.
      overrides: config overrides "section.field=value".
      detections: the `detectors.make_source` spec: gt, a detections JSON or retinanet:WEIGHTS.
      annotations: ground truth (HICO-DET JSON layout) for detections "gt".
      nms_iou: NMS IoU threshold of the built-in RetinaNet.
    """

    def __init__(self, checkpoint: str, config_path: str | None = None, overrides: Sequence[str] = (),
                 detections: str = "gt", annotations: str | None = None, nms_iou: float = 0.5):
        model, self.config = checkpoints.load_model(checkpoint, config_path, list(overrides))
        manifest = manifest_lib.load(self.config.data.data_dir)
        self.verb_names = [v.name for v in manifest.verbs]
        self.verb_ids = [v.id for v in manifest.verbs]
        inference = self.config.inference
        self.source = detectors.make_source(detections, annotations=annotations,
                                            score_threshold=inference.detection_score_threshold,
                                            max_detections=inference.max_detections or None, nms_iou_threshold=nms_iou,
                                            **detectors.format_options(inference))
        self.predict = runner.make_predict_fn(model, self.config)
        self.slots = runner.detection_slots(inference.max_detections, self.source)

    def __call__(self, name: str, frame: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """One (H, W, 3) uint8 RGB frame named ``name`` (the detector source's key) -> (prediction, triplets).

        prediction: the PPDM dict plus "height" and "width" (pixels); triplets: the
        frame's `TripletDecoder` output (numpy, no batch axis), boxes in the frame's pixels.
        """
        image, scale = fit_to_input(tf.convert_to_tensor(frame), tuple(self.config.model.image_size))
        image, scale = image.numpy(), float(scale)
        ((det, triplets),) = runner.decode_batch(self.predict, image[None], [scale], [self.source(name, image, scale)],
                                                 self.slots)
        prediction = to_hico_predictions(triplets, det.boxes, det.category_ids, name, self.verb_ids, det.scores)
        prediction.update(height=int(frame.shape[0]), width=int(frame.shape[1]))
        return prediction, triplets


def object_categories(prediction: dict[str, Any]) -> list[int]:
    """(D,) COCO category id of each detection of a prediction dict, indexed like the triplets' object_index."""
    return [int(d["category_id"]) for d in prediction["predictions"]]


def predict_video(predictor: "Predictor", path: str, folder: str, draw, progress=lambda frames: frames,
                  overwrite: bool = False) -> list[dict[str, Any]]:
    """Runs an FFmpeg video frame by frame (bounded memory): writes folder/STEM.mp4 (annotated, the
    source fps) and folder/STEM.jsonl (one prediction dict per frame, in order), both atomically.

    Frames are named "STEM_000000.jpg", ... (the detector source's keys). draw(frame, prediction,
    triplets) -> annotated (H', W', 3) uint8, one size for all frames. Returns the prediction dicts.

    Raises:
      ValueError: the video cannot be read, or an output exists and overwrite is False.
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    video_path, lines_path = os.path.join(folder, stem + ".mp4"), os.path.join(folder, stem + ".jsonl")
    for out in (video_path, lines_path):
        if os.path.exists(out) and not overwrite:
            raise ValueError(f"{out} exists; pass --overwrite to replace it")
    fps, _, frames = media.open_video(path)
    predictions = []

    def annotated():
        for i, frame in enumerate(progress(frames)):
            prediction, triplets = predictor(f"{stem}_{i:06d}.jpg", frame)
            predictions.append(prediction)
            yield draw(frame, prediction, triplets)

    media.write_video(video_path, annotated(), fps)
    atomic_write(lines_path, lambda f: f.writelines(json.dumps(p) + "\n" for p in predictions))
    return predictions


def output_files(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Image name -> (prediction JSON, picture) paths, relative to the output folder.

    "a/x.jpg" -> ("a/x.json", "a/x.jpg"); pictures other than JPEG or PNG become PNG ("x.gif" -> "x.png").
    A file that two images (x.jpg and x.png, x.gif and x.png) or the run's own files (an image
    named predictions.png) would share keeps the image's extension: "x.jpg.json", "x.gif.png".

    Raises:
      ValueError: two outputs would still share a file.
    """
    def candidates(name: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """((plain, extended) JSON name, (plain, extended) picture name)."""
        stem, ext = os.path.splitext(name)
        if ext.lower() in PICTURE_EXTENSIONS:
            return (stem + ".json", name + ".json"), (name, name)
        return (stem + ".json", name + ".json"), (stem + ".png", name + ".png")

    options = {name: candidates(name) for name in names}
    taken = collections.Counter(plain for pair in options.values() for plain, _ in pair)
    taken.update(RUN_FILES)
    files = {name: tuple(plain if taken[plain] == 1 else extended for plain, extended in pair)
             for name, pair in options.items()}
    written = set(RUN_FILES)
    for name, pair in files.items():
        for file in pair:
            if file in written:
                raise ValueError(f"image {name!r}: another output is already written to {file!r}; rename the image")
            written.add(file)
    return files


def write_prediction(folder: str, files: tuple[str, str], prediction: dict[str, Any], picture: np.ndarray) -> None:
    """Writes the prediction and the picture to folder, at the (JSON, picture) paths of `output_files`."""
    write_json_atomic(os.path.join(folder, files[0]), prediction)
    save_image(os.path.join(folder, files[1]), picture)
