"""Sends one image + its detections to a CALIPSO model on TF Serving, prints and draws the triplets.

  python client.py --image photo.jpg --detections dets.json                      # REST, localhost:8501
  python client.py --image photo.jpg --detections gt --annotations test_hico.json \
      --protocol grpc --server localhost:8500 --signature serving_default

--detections is a detections JSON in the calipso_tf.inference.detectors layout (boxes in the
original image's pixels) or "gt" with --annotations. The detect_encoded signature
(default) gets the file's bytes; serving_default gets decoded RGB pixels. Verb names
come from the export's verb_name output (its assets/verbs.txt), or --verbs (one name
per line). The picture is written to --output/<image stem>.png.

Needs: requests (REST) or tensorflow-serving-api (gRPC).
"""

from __future__ import annotations

import base64
import os
from typing import Any

import numpy as np

from calipso_tf.inference.media import read_image

TRIPLET_KEYS = ("subject_index", "object_index", "verb", "verb_name", "score", "subject_box", "object_box",
                "num_triplets")


def build_inputs(image_path: str, detections, signature: str, max_detections: int) -> dict[str, np.ndarray]:
    """One image + its `calipso_tf.inference.detectors.Detections` -> the signature's named inputs (batch of 1).

    At most max_detections detections (highest scores) are sent; D is at least 1 so
    that an empty detection list still has a well-formed (1, 1, 4) boxes tensor.
    """
    from calipso_tf.inference import detectors

    det = detections.select(max_detections=max_detections)
    inputs = detectors.pad_detections([det], max(1, len(det)))
    if signature == "detect_encoded":
        with open(image_path, "rb") as f:
            inputs["image_bytes"] = np.array([f.read()], object)
    else:
        pixels = read_image(image_path)
        inputs["images"] = pixels[None]
        inputs["image_sizes"] = np.array([pixels.shape[:2]], np.int32)
    return inputs


def rest_body(inputs: dict[str, np.ndarray], signature: str) -> dict[str, Any]:
    """Named inputs -> TF Serving's REST predict body (columnar "inputs"; bytes as {"b64": ...})."""
    def plain(value: np.ndarray):
        if value.dtype == object:
            return [{"b64": base64.b64encode(v).decode("ascii")} for v in value.ravel()]
        return value.tolist()

    return {"signature_name": signature, "inputs": {name: plain(value) for name, value in inputs.items()}}


def rest_predict(url: str, model_name: str, signature: str, inputs: dict[str, np.ndarray],
                 timeout: float = 30.0) -> dict[str, np.ndarray]:
    """POST <url>/v1/models/<model_name>:predict; returns the named outputs as numpy arrays."""
    import requests

    response = requests.post(f"{url.rstrip('/')}/v1/models/{model_name}:predict", json=rest_body(inputs, signature),
                             timeout=timeout)
    if response.status_code != 200:
        raise RuntimeError(f"TF Serving REST {response.status_code}: {response.text.strip()}")
    return {name: np.asarray(value) for name, value in response.json()["outputs"].items()}


def grpc_predict(target: str, model_name: str, signature: str, inputs: dict[str, np.ndarray],
                 timeout: float = 30.0) -> dict[str, np.ndarray]:
    """PredictionService.Predict over an insecure channel to host:port; outputs as numpy arrays."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from calipso_tf.serving.export import predict_request

    size = 64 * 1024 * 1024
    options = [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(inputs, signature, model_name), timeout=timeout)
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def first_image(outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Batch-of-1 outputs -> one image's triplets (text as str), in the decoder's layout."""
    one = {key: np.asarray(outputs[key])[0] for key in TRIPLET_KEYS}
    one["verb_name"] = [v.decode() if isinstance(v, bytes) else str(v) for v in one["verb_name"]]
    return one


def verb_table(triplets: dict[str, Any], verbs_file: str | None = None) -> list[str]:
    """Verb index -> name: the lines of verbs_file, else the names the server returned."""
    if verbs_file:
        with open(verbs_file) as f:
            return [line.rstrip("\n") for line in f]
    count = int(triplets["num_triplets"])
    verbs = [int(v) for v in triplets["verb"][:count]]
    names = [f"verb {i}" for i in range(max(verbs, default=-1) + 1)]
    for verb, name in zip(verbs, triplets["verb_name"][:count]):
        names[verb] = name
    return names


def format_triplets(triplets: dict[str, Any], verb_names: list[str]) -> list[str]:
    """One line per triplet: score, subject #index [box] verb object #index [box] (or "no target")."""
    def box(b):
        return "[" + ", ".join(f"{float(v):.1f}" for v in b) + "]"

    lines = []
    for i in range(int(triplets["num_triplets"])):
        target = int(triplets["object_index"][i])
        obj = f"object #{target} {box(triplets['object_box'][i])}" if target >= 0 else "(no target)"
        lines.append(f"{float(triplets['score'][i]):.3f}  person #{int(triplets['subject_index'][i])} "
                     f"{box(triplets['subject_box'][i])}  {verb_names[int(triplets['verb'][i])]}  {obj}")
    return lines


def draw(image_path: str, triplets: dict[str, Any], verb_names: list[str], output_dir: str) -> str | None:
    """Writes <output_dir>/<stem>.png with the triplets drawn; None when calipso_tf.visualization is missing."""
    try:
        from calipso_tf.visualization.drawing import draw_triplets, save_image
    except ImportError as e:
        print(f"not drawing: calipso_tf.visualization is unavailable ({e})")
        return None
    path = os.path.join(output_dir, os.path.splitext(os.path.basename(image_path))[0] + ".png")
    save_image(path, draw_triplets(read_image(image_path), triplets, verb_names))
    return path


def define_flags() -> None:
    """Command-line flags (defined only when run as a script, so tests can import this file)."""
    from absl import flags

    flags.DEFINE_string("image", None, "The image file to send.")
    flags.DEFINE_string("detections", None, "A detections JSON (calipso_tf.inference.detectors layout) or gt.")
    flags.DEFINE_string("annotations", None, "Ground truth (HICO-DET JSON layout) for --detections gt.")
    flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "REST (port 8501) or gRPC (port 8500).")
    flags.DEFINE_string("server", None, "REST: http://host:8501 (default http://localhost:8501); "
                                        "gRPC: host:8500 (default localhost:8500).")
    flags.DEFINE_string("model_name", "calipso", "The served model's name.")
    flags.DEFINE_enum("signature", "detect_encoded", ["detect_encoded", "serving_default"],
                      "detect_encoded sends the file bytes; serving_default decoded pixels.")
    flags.DEFINE_integer("max_detections", 64, "Most detections sent (the export's max_detections).")
    flags.DEFINE_string("verbs", None, "Verb names, one per line (default: the server's verb_name output).")
    flags.DEFINE_string("output", "outputs/client", "Folder for the drawn picture; empty: do not draw.")
    flags.DEFINE_float("timeout", 30.0, "Request timeout in seconds.")
    flags.mark_flags_as_required(["image", "detections"])


def main(argv):
    del argv
    from absl import flags

    from calipso_tf.inference import detectors

    opts = flags.FLAGS
    source = detectors.make_source(opts.detections, annotations=opts.annotations)
    inputs = build_inputs(opts.image, source(os.path.basename(opts.image)), opts.signature, opts.max_detections)
    if opts.protocol == "rest":
        outputs = rest_predict(opts.server or "http://localhost:8501", opts.model_name, opts.signature, inputs,
                               opts.timeout)
    else:
        outputs = grpc_predict(opts.server or "localhost:8500", opts.model_name, opts.signature, inputs, opts.timeout)
    triplets = first_image(outputs)
    verb_names = verb_table(triplets, opts.verbs)
    print(f"{opts.image}: {int(triplets['num_triplets'])} triplets")
    for line in format_triplets(triplets, verb_names):
        print(line)
    if opts.output:
        path = draw(opts.image, triplets, verb_names, opts.output)
        if path:
            print(f"drawn: {path}")


if __name__ == "__main__":
    from calipso_tf.cli import run

    define_flags()
    run(main)
