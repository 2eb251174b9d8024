"""Detects HOI triplets in images or a video and draws them.

  python predict.py --checkpoint work_dirs/synthetic --images photo.jpg,more_photos/ \
      --detections gt --annotations test_hico.json --output outputs/predict
  python predict.py --checkpoint RUN_DIR --images folder/ --detections dets.json --output out/
  python predict.py --checkpoint RUN_DIR --video clip.gif --detections retinanet:retinanet.weights.h5 --output out/

Per image NAME.EXT, writes NAME.json (the PPDM prediction dict, plus "width" and
"height"; object_id -1 = no target) and the annotated picture NAME.EXT (PNG for
other formats). A video's frames are named STEM_000000.jpg ... (also the names
detection files and ground truth are looked up by) and written to a STEM/ folder.
predictions.json gathers every image's dict in the evaluators' list layout.

Videos are read with imageio when it is installed (pip install imageio imageio-ffmpeg
for MP4 and other FFmpeg formats); without it only animated images Pillow reads
(GIF, animated PNG / WebP) are supported.
"""

from __future__ import annotations

import logging
import os
from typing import Iterator

import numpy as np
from absl import app, flags

import calipso_tf  # noqa: F401  (sets KERAS_BACKEND)
from calipso_tf.cli import parse_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "A model dir (config.yaml + checkpoints/) or checkpoint prefix.")
flags.DEFINE_string("config", None, "Config YAML; default: the run's frozen config.yaml.")
flags.DEFINE_multi_string("set", [], "Config override section.field=value, e.g. inference.score_threshold=0.3.")
flags.DEFINE_list("images", [], "Image files and/or folders (comma-separated).")
flags.DEFINE_string("video", None, "A video or animated image, decoded frame by frame.")
flags.DEFINE_string("detections", "gt", "Boxes the maps are read at: gt, a detections JSON, or retinanet:WEIGHTS.")
flags.DEFINE_string("annotations", None, "Ground truth (HICO-DET JSON layout) for --detections gt.")
flags.DEFINE_float("nms_iou", 0.5, "NMS IoU threshold of the built-in RetinaNet.")
flags.DEFINE_string("data_dir", None, "Converted dataset whose manifest names the verbs; default: the config's.")
flags.DEFINE_string("output", "outputs/predict", "Output folder.")
flags.DEFINE_float("min_display_score", 0.3, "Draw only triplets scoring at least this (the JSON keeps all).")
flags.DEFINE_integer("min_display_size", 512, "Pictures whose long side is shorter are enlarged to it for legible labels.")
flags.mark_flag_as_required("checkpoint")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png")
log = logging.getLogger("calipso_tf")


def list_images(paths: list[str]) -> list[str]:
    """Files as given, folders expanded to their image files (sorted)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise app.UsageError(f"--images: {path} is neither a file nor a folder")
    return found


def read_image(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def read_video(path: str) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of a video: imageio if installed, else Pillow."""
    try:
        import imageio.v3 as iio
    except ImportError:
        iio = None
    if iio is not None:
        for frame in iio.imiter(path):
            yield np.asarray(frame)[..., :3]
        return
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(path)
    except UnidentifiedImageError as e:
        raise app.UsageError(f"--video {path}: Pillow cannot read it and imageio is not installed; "
                             "pip install imageio imageio-ffmpeg, or convert it to a GIF") from e
    with image:
        for frame in ImageSequence.Iterator(image):
            yield np.asarray(frame.convert("RGB"))


class Predictor:
    """Model + detector source + decoder for one frame at a time."""

    def __init__(self):
        from calipso_tf.training import checkpoints
        from calipso_tf.inference import detectors, runner
        from calipso_tf.data import manifest as manifest_lib

        overrides = list(FLAGS.set) + ([f"data.data_dir={FLAGS.data_dir}"] if FLAGS.data_dir else [])
        model, self.config = checkpoints.load_model(FLAGS.checkpoint, FLAGS.config, overrides)
        manifest = manifest_lib.load(self.config.data.data_dir)
        self.verb_names = [v.name for v in manifest.verbs]
        self.verb_ids = [v.id for v in manifest.verbs]
        inference = self.config.inference
        self.source = detectors.make_source(FLAGS.detections, annotations=FLAGS.annotations,
                                            score_threshold=inference.detection_score_threshold,
                                            max_detections=inference.max_detections, nms_iou_threshold=FLAGS.nms_iou)
        self.predict = runner.make_predict_fn(model, self.config)

    def __call__(self, name: str, frame: np.ndarray) -> tuple[dict, np.ndarray]:
        """One RGB frame -> (prediction dict, annotated picture)."""
        import tensorflow as tf

        from calipso_tf.inference import detectors, hico_output
        from calipso_tf.ops.preprocessing import fit_to_input

        max_detections = self.config.inference.max_detections
        image, scale = fit_to_input(tf.convert_to_tensor(frame), tuple(self.config.model.image_size))
        image, scale = image.numpy(), float(scale)
        det = self.source(name, image, scale).select(max_detections=max_detections)
        padded = detectors.pad_detections([det], max_detections)
        out = self.predict(image[None], padded["boxes"], padded["category_ids"], padded["scores"],
                           padded["num_detections"], np.array([scale], np.float32))
        triplets = {k: v.numpy()[0] for k, v in out.items()}
        prediction = hico_output.to_hico_predictions(triplets, det.boxes, det.category_ids, name, self.verb_ids,
                                                   det.scores)
        prediction.update(height=int(frame.shape[0]), width=int(frame.shape[1]))
        return prediction, draw(frame, triplets, self.verb_names)


def draw(frame: np.ndarray, triplets: dict, verb_names: list[str]) -> np.ndarray:
    """Draws the triplets scoring >= --min_display_score on the frame, enlarged (nearest
    neighbour) so that its long side is at least --min_display_size pixels."""
    from PIL import Image

    from calipso_tf.visualization import drawing

    shown = triplets["score"][:int(triplets["num_triplets"])] >= FLAGS.min_display_score
    keep = np.flatnonzero(shown)
    view = {k: (v[keep] if k != "num_triplets" else np.int32(len(keep))) for k, v in triplets.items()}
    factor = max(1.0, FLAGS.min_display_size / max(frame.shape[:2]))
    if factor > 1.0:
        size = (round(frame.shape[1] * factor), round(frame.shape[0] * factor))
        frame = np.asarray(Image.fromarray(np.asarray(frame, np.uint8)).resize(size, Image.NEAREST))
        view["subject_box"], view["object_box"] = view["subject_box"] * factor, view["object_box"] * factor
    return drawing.draw_triplets(frame, view, verb_names)


def write_outputs(folder: str, name: str, prediction: dict, picture: np.ndarray) -> None:
    from calipso_tf.fileio import write_json_atomic
    from calipso_tf.visualization.drawing import save_image

    stem, ext = os.path.splitext(name)
    write_json_atomic(os.path.join(folder, stem + ".json"), prediction)
    save_image(os.path.join(folder, stem + (ext if ext.lower() in PICTURE_EXTENSIONS else ".png")), picture)


def main(argv):
    del argv
    from tqdm import tqdm

    from calipso_tf.fileio import write_json_atomic

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not FLAGS.images and not FLAGS.video:
        raise app.UsageError("give --images and/or --video")
    images = list_images(FLAGS.images)
    predictor = Predictor()
    predictions = []
    for path in tqdm(images, desc="images", unit="img"):
        name = os.path.basename(path)
        prediction, picture = predictor(name, read_image(path))
        write_outputs(FLAGS.output, name, prediction, picture)
        predictions.append(prediction)
    if FLAGS.video:
        stem = os.path.splitext(os.path.basename(FLAGS.video))[0]
        for i, frame in enumerate(tqdm(read_video(FLAGS.video), desc=stem, unit="frame")):
            name = f"{stem}_{i:06d}.jpg"
            prediction, picture = predictor(name, frame)
            write_outputs(os.path.join(FLAGS.output, stem), name, prediction, picture)
            predictions.append(prediction)
    write_json_atomic(os.path.join(FLAGS.output, "predictions.json"), predictions)
    count = sum(len(p["hoi_prediction"]) for p in predictions)
    log.info("%d images, %d triplets -> %s", len(predictions), count, FLAGS.output)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
