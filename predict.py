r"""Detects HOI triplets in images or a video and draws them.

  python predict.py --checkpoint work_dirs/synthetic --images photo.jpg,more_photos/ \
      --detections gt --annotations test_hico.json --output outputs/predict
  python predict.py --checkpoint RUN_DIR --images folder/ --detections dets.json --output out/
  python predict.py --checkpoint RUN_DIR --video clip.gif --detections retinanet:retinanet.weights.h5 --output out/
  python predict.py --checkpoint RUN_DIR --video clip.mp4 --detections dets.json --output out/

Images are named by their path relative to the --images folder they are in, or by their
base name when given as files; names two images would share take as many parent folders as
tell them apart (a/x.jpg, b/x.jpg). Detection files and ground truth are looked up by these
names (calipso_tf/inference/detectors.py). Per image NAME.EXT, writes NAME.json (the PPDM
prediction dict, plus "width" and "height"; object_id -1 = no target) and the annotated
picture NAME.EXT (PNG for other formats) under the same relative path in --output. A video's
frames are named STEM_000000.jpg ... (the keys of a detections file; ground truth rarely exists
for video). An FFmpeg video (.mp4 .mov .avi .mkv .webm) is decoded frame by frame and written
as STEM.mp4 (annotated, at the source frame rate) and STEM.jsonl (one prediction dict a line),
with a progress bar in frames/s; an animated image (GIF, APNG, WebP) gets a STEM/ folder of
per-frame JSON and pictures. predictions.json gathers every image's dict in the evaluators'
list layout; predict_summary.json counts predictions and triplets and lists the files skipped
as unreadable (each also logged as a warning).

Input kinds: --images takes image files and folders (walked recursively), --video one video
or animated image; --detections gives the boxes: gt (with --annotations), retinanet:WEIGHTS
(built-in detector), a detections JSON, an iCAN/TIN pickle or a UPT folder of per-image JSONs.

Labels read "verb object score" ("hold cup 0.82", "run (no target) 0.91") at the subject box,
with a line from the subject's centre to its target's, one colour per subject; where labels
would overlap or leave the picture, numbered subjects and a legend in the emptiest corner.
"""

from __future__ import annotations

import logging
import os

from absl import app, flags

from calipso_tf.cli import config_overrides, define_detections_flag, define_model_flags, run

FLAGS = flags.FLAGS
define_model_flags()
flags.DEFINE_list("images", [], "Image files (.jpg .jpeg .png .bmp .gif .webp) and/or folders of them, walked "
                  "recursively (comma-separated).")
flags.DEFINE_string("video", None, "A video file (.mp4 .mov .avi .mkv .webm: annotated STEM.mp4 + STEM.jsonl) or "
                    "an animated GIF/PNG/WebP (a STEM/ folder of frames), decoded frame by frame.")
flags.DEFINE_bool("overwrite", False, "Replace an existing annotated video / JSON-lines file.")
define_detections_flag()
flags.DEFINE_string("annotations", None, "Ground truth (HICO-DET JSON layout) for --detections gt.")
flags.DEFINE_float("nms_iou", 0.5, "NMS IoU threshold of the built-in RetinaNet.")
flags.DEFINE_string("output", "outputs/predict", "Output folder.")
flags.DEFINE_float("min_display_score", 0.3, "Draw only triplets scoring at least this (the JSON keeps all).")
flags.DEFINE_integer("min_display_size", 512,
                     "Pictures whose long side is shorter are enlarged to it for legible labels.")
flags.mark_flag_as_required("checkpoint")

log = logging.getLogger("calipso_tf")


def predict_and_write(predictor, folder: str, name: str, files: tuple[str, str], frame) -> dict:
    """Predicts one frame, writes its JSON and annotated picture under folder; returns the prediction dict."""
    from calipso_tf.inference.predictor import write_prediction

    prediction, triplets = predictor(name, frame)
    write_prediction(folder, files, prediction, draw(predictor, frame, prediction, triplets))
    return prediction


def draw(predictor, frame, prediction, triplets):
    """The annotated picture of one frame's prediction."""
    from calipso_tf.inference.predictor import object_categories
    from calipso_tf.visualization.display import draw_confident_triplets

    return draw_confident_triplets(frame, triplets, predictor.verb_names, FLAGS.min_display_score,
                                   FLAGS.min_display_size, object_categories(prediction))


def main(argv):
    del argv
    from tqdm import tqdm

    from calipso_tf.fileio import write_json_atomic
    from calipso_tf.inference import media

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not FLAGS.images and not FLAGS.video:
        raise app.UsageError("give --images and/or --video")
    try:
        images = media.list_images(FLAGS.images, exclude=FLAGS.output)
    except ValueError as e:
        raise app.UsageError(f"--images: {e}") from e
    from calipso_tf.inference import predictor as predictor_lib  # imports TensorFlow: after the usage checks

    files = predictor_lib.output_files([name for _, name in images])
    predictor = predictor_lib.Predictor(FLAGS.checkpoint, FLAGS.config, config_overrides(), FLAGS.detections,
                                        FLAGS.annotations, FLAGS.nms_iou)
    predictor.source.check_names(name for _, name in images)
    predictions, skipped = [], []
    for path, name in tqdm(images, desc="images", unit="img"):
        try:
            frame = media.read_image(path)
        except ValueError as e:
            log.warning("skipped %s", e)
            skipped.append({"file": path, "error": str(e)})
            continue
        predictions.append(predict_and_write(predictor, FLAGS.output, name, files[name], frame))
    if FLAGS.video and media.is_ffmpeg_video(FLAGS.video):
        try:
            predictions += predictor_lib.predict_video(
                predictor, FLAGS.video, FLAGS.output, lambda *args: draw(predictor, *args),
                lambda frames: tqdm(frames, desc=os.path.basename(FLAGS.video), unit="frame"), FLAGS.overwrite)
        except ValueError as e:
            raise app.UsageError(f"--video {e}") from e
    elif FLAGS.video:
        stem = os.path.splitext(os.path.basename(FLAGS.video))[0]
        try:
            frames = media.read_video(FLAGS.video)
        except ValueError as e:
            raise app.UsageError(f"--video {e}") from e
        for i, frame in enumerate(tqdm(frames, desc=stem, unit="frame")):
            name = f"{stem}_{i:06d}.jpg"
            predictions.append(predict_and_write(predictor, os.path.join(FLAGS.output, stem), name,
                                                 predictor_lib.output_files([name])[name], frame))
    if skipped and not predictions:
        raise ValueError(f"none of the {len(skipped)} images could be read; the first: {skipped[0]['error']}")
    count = sum(len(p["hoi_prediction"]) for p in predictions)
    write_json_atomic(os.path.join(FLAGS.output, predictor_lib.PREDICTIONS_FILE), predictions)
    write_json_atomic(os.path.join(FLAGS.output, predictor_lib.SUMMARY_FILE),
                      {"predicted": len(predictions), "triplets": count, "skipped": skipped})
    log.info("%d images, %d triplets -> %s", len(predictions), count, FLAGS.output)
    if skipped:
        log.warning("skipped %d unreadable file(s): %s", len(skipped), ", ".join(s["file"] for s in skipped))


if __name__ == "__main__":
    run(main)
