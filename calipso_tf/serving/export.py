"""SavedModel export for TensorFlow Serving (docs/SERVING.md).

The export is a plain ``tf.Module`` (tag "serve") holding the Keras model, the triplet
decoder and the class lists, saved with ``tf.saved_model.save``. Its signatures:

``serving_default``
  images (B, h, w, 3) uint8 RGB, each image top-left aligned and zero-padded to the
  batch's common (h, w); image_sizes (B, 2) int32 true (height, width) of each image;
  boxes (B, D, 4) float32 [x1, y1, x2, y2] pixels of the ORIGINAL image; category_ids
  (B, D) int32 COCO ids (person = 1); scores (B, D) float32 in [0, 1];
  num_detections (B,) int32 valid rows per image (the rest is padding).
  -> subject_box, object_box (B, K, 4) float32 (original frame), verb (B, K) int32,
  verb_name (B, K) string, score (B, K) float32, subject_index, object_index (B, K)
  int32, num_triplets (B,) int32; slots past num_triplets hold -1 / "" / 0.
``detect_encoded``
  image_bytes (B,) string (JPEG, PNG, BMP or GIF first frame) + the same detection
  inputs -> the same triplets.
``dense_maps``
  images, image_sizes as above -> verb_logits (B, N, 2V), target_logits (B, N, V)
  (without the target branch: absent), embeddings (B, N, V, T), anchors (B, N, 4)
  [x1, y1, x2, y2] pixels of the model input frame (the same for every image; batched
  so that TF Serving's batcher can split it) and scale (B,) float32: model-frame
  pixels per original pixel.

Images are resized inside the graph exactly as in training
(`calipso_tf.data.pipeline.decode_and_resize`: keep aspect ratio, fit the model input,
antialiased bilinear, pad bottom/right with zeros). D may be anything from 0 to the
export's ``max_detections``; a larger D is an InvalidArgument error (keep the
highest-scoring detections client-side). Every input's rank and inner sizes are
checked in the graph, because a served signature does not check shapes itself, and so
are its values (`input_checks`: finite ordered boxes, scores in [0, 1], decodable images).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Sequence

import numpy as np
import tensorflow as tf

from calipso_tf import config as config_lib
from calipso_tf.config import Config
from calipso_tf.constants import PERSON_CATEGORY_ID
from calipso_tf.inference.triplet_decoder import TripletDecoder
from calipso_tf.ops import anchors as anchor_lib
from calipso_tf.ops.preprocessing import fit_to_input
from calipso_tf.serving import input_checks

SERVING_DEFAULT = "serving_default"
DETECT_ENCODED = "detect_encoded"
DENSE_MAPS = "dense_maps"
SIGNATURES = (SERVING_DEFAULT, DETECT_ENCODED, DENSE_MAPS)
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
VERBS_ASSET, OBJECTS_ASSET, CONFIG_ASSET = "verbs.txt", "objects.txt", "config.yaml"

IMAGES = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")
IMAGE_SIZES = tf.TensorSpec([None, 2], tf.int32, name="image_sizes")
IMAGE_BYTES = tf.TensorSpec([None], tf.string, name="image_bytes")
DETECTIONS = (
    tf.TensorSpec([None, None, 4], tf.float32, name="boxes"),
    tf.TensorSpec([None, None], tf.int32, name="category_ids"),
    tf.TensorSpec([None, None], tf.float32, name="scores"),
    tf.TensorSpec([None], tf.int32, name="num_detections"),
)


def _checked(spec: tf.TensorSpec, tensor: tf.Tensor) -> tf.Tensor:
    """Runtime rank / inner-size check (a loaded signature only checks dtypes)."""
    return tf.ensure_shape(tensor, spec.shape, name=f"check_{spec.name}")


class ServingModule(tf.Module):
    """The exported object: model + decoder + class-name assets + the three signatures.

    Args:
      model: a built `CalipsoModel`.
      config: its Config (image size, anchors, inference options).
      asset_dir: folder holding verbs.txt (verb index i on line i), objects.txt
        ("id<TAB>name" lines) and config.yaml; copied into the export's assets/.
      max_detections: the largest D the detection inputs may have.
      person_category_id: the detector's person class.
    """

    def __init__(self, model, config: Config, asset_dir: str, max_detections: int,
                 person_category_id: int = PERSON_CATEGORY_ID):
        super().__init__(name="calipso_serving")
        self.model = model
        self.image_size = tuple(int(v) for v in config.model.image_size)
        self.max_detections = int(max_detections)
        inf = config.inference
        self.decoder = TripletDecoder(threshold=inf.score_threshold, top_k=inf.top_k, mapping_iou=inf.mapping_iou,
                                      person_category_id=person_category_id)
        self.anchors = tf.constant(anchor_lib.generate_anchors(self.image_size, config.model.anchors))
        self.verbs_file = tf.saved_model.Asset(os.path.join(asset_dir, VERBS_ASSET))
        self.objects_file = tf.saved_model.Asset(os.path.join(asset_dir, OBJECTS_ASSET))
        self.config_file = tf.saved_model.Asset(os.path.join(asset_dir, CONFIG_ASSET))
        self.verb_names = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            self.verbs_file, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            tf.string, tf.lookup.TextFileIndex.WHOLE_LINE), default_value="")

    @tf.function(input_signature=[IMAGES, IMAGE_SIZES, *DETECTIONS])
    def serve(self, images, image_sizes, boxes, category_ids, scores, num_detections):
        model_images, scale = self._prepare_pixels(images, image_sizes)
        return self._triplets(model_images, scale, boxes, category_ids, scores, num_detections)

    @tf.function(input_signature=[IMAGE_BYTES, *DETECTIONS])
    def serve_encoded(self, image_bytes, boxes, category_ids, scores, num_detections):
        model_images, scale = input_checks.decode_images(_checked(IMAGE_BYTES, image_bytes),
                                                         lambda image: fit_to_input(image, self.image_size),
                                                         self._prepared_spec())
        return self._triplets(model_images, scale, boxes, category_ids, scores, num_detections)

    @tf.function(input_signature=[IMAGES, IMAGE_SIZES])
    def serve_maps(self, images, image_sizes):
        model_images, scale = self._prepare_pixels(images, image_sizes)
        maps = dict(self.model(model_images, training=False))
        maps["anchors"] = tf.tile(self.anchors[None], [tf.shape(model_images)[0], 1, 1])
        maps["scale"] = scale
        return maps

    def signatures(self) -> dict:
        return {SERVING_DEFAULT: self.serve.get_concrete_function(),
                DETECT_ENCODED: self.serve_encoded.get_concrete_function(),
                DENSE_MAPS: self.serve_maps.get_concrete_function()}

    def _prepared_spec(self) -> tuple[tf.TensorSpec, tf.TensorSpec]:
        return tf.TensorSpec([*self.image_size, 3], tf.float32), tf.TensorSpec([], tf.float32)

    def _prepare_pixels(self, images, image_sizes):
        """Padded uint8 batch + true sizes -> model inputs (B, H, W, 3) float32, scale (B,)."""
        images, image_sizes = _checked(IMAGES, images), _checked(IMAGE_SIZES, image_sizes)
        padded_size = tf.shape(images)[1:3]
        checks = [
            tf.debugging.assert_equal(tf.shape(image_sizes)[0], tf.shape(images)[0],
                                      message="image_sizes must have one (height, width) row per image"),
        ]
        with tf.control_dependencies(checks), tf.control_dependencies([  # values once the shapes are right
                input_checks.check_image_sizes(image_sizes, padded_size)]):
            return tf.map_fn(lambda a: fit_to_input(a[0][:a[1][0], :a[1][1]], self.image_size), (images, image_sizes),
                             fn_output_signature=self._prepared_spec())

    def _triplets(self, model_images, scale, boxes, category_ids, scores, num_detections):
        """Model maps read at the (checked, padded to max_detections) detections."""
        boxes, category_ids, scores, num_detections = (
            _checked(spec, t) for spec, t in zip(DETECTIONS, (boxes, category_ids, scores, num_detections)))
        batch, count = tf.shape(boxes)[0], tf.shape(boxes)[1]
        checks = [
            tf.debugging.assert_less_equal(count, self.max_detections, message=(
                f"boxes: more than {self.max_detections} detections per image (this export's max_detections); "
                "send the highest-scoring ones")),
            tf.debugging.assert_equal(tf.shape(category_ids), [batch, count],
                                      message="category_ids must be (B, D) like boxes (B, D, 4)"),
            tf.debugging.assert_equal(tf.shape(scores), [batch, count], message="scores must be (B, D) like boxes"),
            tf.debugging.assert_equal(tf.shape(num_detections), [batch], message="num_detections must be (B,)"),
            tf.debugging.assert_equal(tf.shape(model_images)[0], batch,
                                      message="the images and the detections differ in batch size"),
        ]
        with tf.control_dependencies(checks), tf.control_dependencies([  # values once the shapes are right
                input_checks.check_detections(boxes, scores, num_detections)]):
            pad = self.max_detections - count
            boxes = tf.ensure_shape(tf.pad(boxes, [[0, 0], [0, pad], [0, 0]]), [None, self.max_detections, 4])
            category_ids = tf.ensure_shape(tf.pad(category_ids, [[0, 0], [0, pad]]), [None, self.max_detections])
            scores = tf.ensure_shape(tf.pad(scores, [[0, 0], [0, pad]]), [None, self.max_detections])
            maps = self.model(model_images, training=False)
        triplets = dict(self.decoder(maps, self.anchors, boxes, category_ids, scores, num_detections, scale))
        triplets["verb_name"] = self.verb_names.lookup(tf.cast(triplets["verb"], tf.int64))
        return triplets


def write_assets(folder: str, config: Config, verb_names: Sequence[str],
                 objects: Sequence[tuple[int, str]]) -> None:
    """Writes verbs.txt, objects.txt and config.yaml (the `ServingModule` assets) into folder."""
    if len(verb_names) != config.model.num_verbs:
        raise ValueError(f"{len(verb_names)} verb names for a model with model.num_verbs={config.model.num_verbs}")
    for name in [*verb_names, *(n for _, n in objects)]:
        if not name or any(c in name for c in "\t\r\n"):
            raise ValueError(f"class name {name!r}: must be non-empty without tabs or line breaks")
    with open(os.path.join(folder, VERBS_ASSET), "w") as f:
        f.writelines(f"{name}\n" for name in verb_names)
    with open(os.path.join(folder, OBJECTS_ASSET), "w") as f:
        f.writelines(f"{int(i)}\t{name}\n" for i, name in objects)
    config_lib.save_config(config, os.path.join(folder, CONFIG_ASSET))
    os.chmod(os.path.join(folder, CONFIG_ASSET), 0o644)  # save_config's temp file is owner-only


def predict_request(inputs: dict[str, np.ndarray], signature_name: str, model_name: str = "calipso"):
    """Named numpy inputs -> a tensorflow_serving PredictRequest (gRPC / warmup)."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def warmup_inputs(image_size: tuple[int, int]) -> dict[str, dict[str, np.ndarray]]:
    """Per signature, one synthetic request: a gray image of half the model input's
    height and its full width, a person and an object detection."""
    height, width = max(1, image_size[0] // 2), image_size[1]
    image = np.full((1, height, width, 3), 128, np.uint8)
    detections = {"boxes": np.array([[[0, 0, width / 2, height], [width / 2, 0, width, height]]], np.float32),
                  "category_ids": np.array([[1, 2]], np.int32), "scores": np.array([[0.9, 0.8]], np.float32),
                  "num_detections": np.array([2], np.int32)}
    pixels = {"images": image, "image_sizes": np.array([[height, width]], np.int32)}
    encoded = np.array([tf.io.encode_png(image[0]).numpy()], object)
    return {SERVING_DEFAULT: {**pixels, **detections}, DETECT_ENCODED: {"image_bytes": encoded, **detections},
            DENSE_MAPS: pixels}


def write_warmup(export_dir: str, image_size: tuple[int, int], model_name: str = "calipso") -> str:
    """Writes <export_dir>/assets.extra/tf_serving_warmup_requests: one PredictionLog per signature."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in warmup_inputs(image_size).items():
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(
                request=predict_request(inputs, signature, model_name)))
            writer.write(log.SerializeToString())
    return path


def check_output_dir(output_dir: str, overwrite: bool = False) -> None:
    """Raises ValueError unless output_dir ends in a positive integer version folder (TF
    Serving's <base_path>/<version> layout), FileExistsError if it exists and not overwrite."""
    version = os.path.basename(os.path.normpath(output_dir))
    if not version.isdigit() or int(version) <= 0:
        raise ValueError(f"{output_dir}: the last folder must be a positive integer version, "
                         "e.g. export/calipso/1 (TF Serving loads <base_path>/<version>)")
    if os.path.exists(output_dir) and not overwrite:
        raise FileExistsError(f"{output_dir} exists; pass --overwrite to replace it or pick a new version")


def export_savedmodel(model, config: Config, output_dir: str, verb_names: Sequence[str],
                      objects: Sequence[tuple[int, str]], max_detections: int | None = None,
                      person_category_id: int = PERSON_CATEGORY_ID, overwrite: bool = False,
                      model_name: str = "calipso") -> str:
    """Exports ``model`` as a servable SavedModel version folder, atomically.

    The SavedModel (+ warmup requests) is written to a hidden temp folder next to
    output_dir (TF Serving ignores non-integer folders) and renamed into place, so a
    watching server never sees a half-written version.

    Args:
      model, config: the built model and its Config.
      output_dir: <base>/<version>, version a positive integer.
      verb_names: name of each network verb index; objects: (COCO id, name) pairs.
      max_detections: the largest D accepted; default config.inference.max_detections.
      overwrite: replace an existing version (otherwise FileExistsError).
      model_name: the model name written into the warmup requests.

    Returns:
      output_dir.
    """
    check_output_dir(output_dir, overwrite)
    output_dir = os.path.normpath(output_dir)
    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(output_dir)}-")
    os.chmod(staging, 0o755)  # mkdtemp is owner-only; the server may run as another user
    try:
        with tempfile.TemporaryDirectory() as asset_dir:
            write_assets(asset_dir, config, verb_names, objects)
            module = ServingModule(model, config, asset_dir, max_detections or config.inference.max_detections,
                                   person_category_id)
            tf.saved_model.save(module, staging, signatures=module.signatures())
        write_warmup(staging, tuple(config.model.image_size), model_name)
        _replace_dir(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def _replace_dir(source: str, target: str) -> None:
    """Renames source to target; an existing target is moved aside first, then deleted."""
    if not os.path.exists(target):
        os.rename(source, target)
        return
    old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(target)), prefix=".old-")
    os.rename(target, os.path.join(old, "version"))
    os.rename(source, target)
    shutil.rmtree(old)


def directory_size(path: str) -> int:
    """Total bytes of the files under path."""
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)
