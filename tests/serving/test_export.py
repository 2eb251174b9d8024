"""SavedModel export (docs/SERVING.md): a tiny model exported in-process and by
export_savedmodel.py, then checked the way TF Serving uses it: loaded in a fresh
process, through saved_model_cli, warmup records, PredictRequest protos, REST and gRPC
(in-process stand-ins for the server), and with bad inputs. A live server is tested
when TF_SERVING_URL is set.

Run as a script (``python tests/test_export.py probe EXPORT INPUTS OUT``) this file is
the fresh process: it loads the export and runs every signature on the saved inputs
(``reject EXPORT REQUESTS OUT``: each saved bad request, recording its error).
"""

import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf

MAX_DETECTIONS = 8
VERBS = ["ride", "hold", "look"]
OBJECTS = [(1, "person"), (2, "bicycle"), (47, "cup")]
ATOL = 1e-5


def text(values) -> np.ndarray:
    """String tensor values (bytes or str) -> a numpy str array."""
    return np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v), otypes=[str])(np.asarray(values))


def probe(export_dir: str, inputs_path: str, out_path: str) -> None:
    """Fresh process: every signature of the loaded export on the saved inputs -> npz."""
    loaded = tf.saved_model.load(export_dir)
    inputs = dict(np.load(inputs_path, allow_pickle=True))
    results = {}
    for name, fn in loaded.signatures.items():
        names = fn.structured_input_signature[1]
        for key, value in fn(**{k: tf.constant(inputs[k]) for k in names}).items():
            value = value.numpy()
            results[f"{name}/{key}"] = text(value) if value.dtype == object else value
    np.savez(out_path, **results)


def reject(export_dir: str, requests_path: str, out_path: str) -> None:
    """Fresh process: each request ("<case>/<signature>/<input>" arrays) of the npz sent
    to the loaded export -> JSON {case: "<error type>: <message>", or "" if it was answered}."""
    loaded = tf.saved_model.load(export_dir)
    requests = {}
    for key, value in np.load(requests_path, allow_pickle=True).items():
        case, signature, name = key.split("/")
        requests.setdefault((case, signature), {})[name] = value
    errors = {}
    for (case, signature), inputs in requests.items():
        try:
            loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
            errors[case] = ""
        except Exception as error:  # recorded for the test to judge
            errors[case] = f"{type(error).__name__}: {error}"
    with open(out_path, "w") as f:
        json.dump(errors, f)


if __name__ == "__main__":
    modes = {"probe": probe, "reject": reject}
    assert sys.argv[1] in modes, "usage: test_export.py probe|reject EXPORT_DIR INPUTS.npz OUT"
    modes[sys.argv[1]](*sys.argv[2:5])
    sys.exit(0)

from harness import REPO_ROOT as REPO, tiny_config  # noqa: E402

import client  # noqa: E402
from calipso_tf.inference import detectors
from calipso_tf.serving import export  # noqa: E402
from calipso_tf.ops.anchors import generate_anchors  # noqa: E402
from calipso_tf.data.pipeline import decode_and_resize  # noqa: E402
from calipso_tf.inference.triplet_decoder import TripletDecoder  # noqa: E402


class Background:
    """A command started now and awaited later, so that the slow TensorFlow imports of the
    checked subprocesses overlap each other and the in-process work."""

    def __init__(self, args: list[str], log_path: str):
        self.log_path = log_path
        with open(log_path, "w") as log:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO}
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)

    def output(self) -> str:
        """Waits for a zero exit; returns stdout + stderr."""
        self.process.wait(timeout=300)
        with open(self.log_path) as f:
            text = f.read()
        assert self.process.returncode == 0, text[-3000:]
        return text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def make_batch(seed=0):
    """Two images of different sizes padded to a common size, with their detections
    (original frame): image 0 has 4 detections, image 1 has 3, D = 5."""
    rng = np.random.default_rng(seed)
    sizes = [(40, 60), (70, 50)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    padded = np.zeros((2, 70, 60, 3), np.uint8)
    for i, image in enumerate(images):
        padded[i, :image.shape[0], :image.shape[1]] = image
    dets = [detectors.Detections([[2, 3, 30, 38], [25, 5, 58, 35], [10, 10, 40, 30], [5, 20, 20, 39]],
                                 [1, 2, 1, 47], [0.9, 0.8, 0.7, 0.6]),
            detectors.Detections([[1, 2, 45, 60], [20, 30, 49, 69], [0, 0, 10, 10]], [1, 47, 2], [0.95, 0.5, 0.4])]
    padded_dets = detectors.pad_detections(dets, 5)
    return images, dets, {"images": padded, "image_sizes": np.array(sizes, np.int32), **padded_dets,
                          "image_bytes": np.array([tf.io.encode_png(i).numpy() for i in images], object)}


def changed(inputs: dict, name: str, index: tuple, value) -> dict:
    """A copy of inputs with inputs[name][index] = value."""
    array = np.array(inputs[name], copy=True)
    array[index] = value
    return {**inputs, name: array}


def bad_requests() -> dict[str, tuple[str, dict, str]]:
    """case -> (signature, inputs, pattern of its error message): make_batch() with one impossible value."""
    batch = make_batch()[2]
    pixels = {k: v for k, v in batch.items() if k != "image_bytes"}
    encoded = {k: v for k, v in batch.items() if k not in ("images", "image_sizes")}
    truncated = batch["image_bytes"][1][:len(batch["image_bytes"][1]) // 2]
    nan = float("nan")
    return {
        "nan_box": ("serving_default", changed(pixels, "boxes", (1, 2, 0), nan),
                    r"boxes\[1, 2\] = \[nan, 0, 10, 10\]: not finite"),
        "first_of_two_bad_boxes": ("serving_default", changed(changed(pixels, "boxes", (1, 0, 3), nan),
                                                              "boxes", (0, 3, 2), float("inf")),
                                   r"boxes\[0, 3\] = \[5, 20, inf, 39\]: not finite"),
        "x2_below_x1": ("serving_default", changed(pixels, "boxes", (0, 1, 2), 20.0),
                        r"boxes\[0, 1\] = \[25, 5, 20, 35\]: x2 < x1"),
        "y2_below_y1": ("serving_default", changed(pixels, "boxes", (1, 1, 3), 29.5),
                        r"boxes\[1, 1\] = \[20, 30, 49, 29.5\]: y2 < y1"),
        "score_above_1": ("serving_default", changed(pixels, "scores", (0, 2), 3.06),
                          r"scores\[0, 2\] = 3.06 is outside \[0, 1\]"),
        "negative_score": ("serving_default", changed(pixels, "scores", (1, 0), -0.5),
                           r"scores\[1, 0\] = -0.5 is outside \[0, 1\]"),
        "nan_score": ("serving_default", changed(pixels, "scores", (1, 1), nan),
                      r"scores\[1, 1\] = nan is outside \[0, 1\]"),
        "num_detections_above_D": ("serving_default", changed(pixels, "num_detections", 0, 6),
                                   r"num_detections\[0\] = 6 exceeds D = 5 \(detections per image in boxes\)"),
        "negative_num_detections": ("serving_default", changed(pixels, "num_detections", 1, -1),
                                    r"num_detections\[1\] = -1 is negative"),
        "image_size_above_padded": ("serving_default", changed(pixels, "image_sizes", (0, 0), 71),
                                    r"image_sizes\[0\] = \[71, 60\] is outside 1 .. \(h, w\) = \(70, 60\)"),
        "zero_image_size": ("dense_maps", changed({k: pixels[k] for k in ("images", "image_sizes")},
                                                  "image_sizes", (1, 1), 0), r"image_sizes\[1\] = \[70, 0\]"),
        "not_an_image": ("detect_encoded", changed(encoded, "image_bytes", 1, b"not an image"),
                         r"image_bytes\[1\] \(12 bytes\): not a decodable JPEG, PNG, GIF or BMP image"),
        "truncated_image": ("detect_encoded", changed(encoded, "image_bytes", 1, truncated),
                            rf"image_bytes\[1\] \({len(truncated)} bytes\): not a decodable"),
        "encoded_with_nan_box": ("detect_encoded", changed(encoded, "boxes", (0, 0, 1), nan),
                                 r"boxes\[0, 0\] = \[2, nan, 30, 38\]: not finite"),
    }


BAD_REQUESTS = bad_requests()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model (kept in memory as the reference), its run dir and dataset manifest;
    export_savedmodel.py (dashed flags) starts on the run dir -> <root>/cli/calipso/3."""
    import keras

    from calipso_tf.config import save_config
    from calipso_tf.data import manifest as manifest_lib
    from calipso_tf.modeling.calipso_model import build_model

    keras.utils.set_random_seed(1)
    root = tmp_path_factory.mktemp("run")
    config = tiny_config()
    config.data.data_dir = str(root / "data")
    model = build_model(config)
    save_config(config, str(root / "model" / "config.yaml"))
    tf.train.Checkpoint(model=model).save(str(root / "model" / "checkpoints" / "ckpt"))
    manifest_lib.save(manifest_lib.Manifest(
        dataset="tiny", verbs=[manifest_lib.Category(i + 1, v) for i, v in enumerate(VERBS)],
        objects=[manifest_lib.Category(i, n) for i, n in OBJECTS], splits={},
        verb_target_categories=[[2], [47], [2, 47]]), config.data.data_dir)
    cli_path = str(root / "cli" / "calipso" / "3")
    cli = Background([sys.executable, "export_savedmodel.py", f"--checkpoint={root / 'model'}", "--output", cli_path,
                      f"--data-dir={config.data.data_dir}", f"--max-detections={MAX_DETECTIONS}"],
                     str(root / "cli.log"))
    yield {"root": root, "model": model, "config": config, "cli": cli, "cli_path": cli_path}
    cli.stop()


@pytest.fixture(scope="module")
def exported(run):
    """The in-memory model exported to <root>/export/calipso/1; starts the fresh-process
    probe on make_batch() and `saved_model_cli show --all` on it."""
    root = run["root"]
    path = export.export_savedmodel(run["model"], run["config"], str(root / "export" / "calipso" / "1"),
                                    VERBS, OBJECTS, max_detections=MAX_DETECTIONS)
    np.savez(root / "inputs.npz", **make_batch()[2])
    probe_args = [sys.executable, os.path.abspath(__file__), "probe", path, str(root / "inputs.npz"),
                  str(root / "probe.npz")]
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    np.savez(root / "bad_requests.npz", **{f"{case}/{signature}/{name}": value
                                          for case, (signature, inputs, _) in BAD_REQUESTS.items()
                                          for name, value in inputs.items()})
    reject_args = [sys.executable, os.path.abspath(__file__), "reject", path, str(root / "bad_requests.npz"),
                   str(root / "rejected.json")]
    jobs = {"probe": Background(probe_args, str(root / "probe.log")),
            "reject": Background(reject_args, str(root / "reject.log")),
            "show": Background([cli, "show", "--all", "--dir", path], str(root / "show.log"))}
    yield {"path": path, "probe_output": str(root / "probe.npz"), "rejected": str(root / "rejected.json"), **jobs}
    for job in jobs.values():
        job.stop()


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported["path"])


@pytest.fixture(scope="module")
def reference(run):
    """Keras model + TripletDecoder on make_batch(), preprocessed by the training pipeline."""
    model, config = run["model"], run["config"]
    size = tuple(config.model.image_size)
    images, dets, _ = make_batch()
    prepared = [decode_and_resize({"encoded": tf.io.encode_png(i), "boxes": tf.zeros([0, 4])}, size) for i in images]
    model_images = tf.stack([tf.image.pad_to_bounding_box(p["image"], 0, 0, *size) for p in prepared])
    scale = tf.stack([p["scale"] for p in prepared])
    maps = model(model_images, training=False)
    anchors = generate_anchors(size, config.model.anchors)
    inf = config.inference
    decoder = TripletDecoder(threshold=inf.score_threshold, top_k=inf.top_k, mapping_iou=inf.mapping_iou)
    padded = detectors.pad_detections(dets, MAX_DETECTIONS)
    triplets = decoder(maps, anchors, padded["boxes"], padded["category_ids"], padded["scores"],
                       padded["num_detections"], scale)
    out = {k: v.numpy() for k, v in {**maps, **triplets}.items()}
    out["anchors"], out["scale"] = np.broadcast_to(anchors, (2, *anchors.shape)), scale.numpy()
    out["verb_name"] = np.where(out["verb"] >= 0, np.array(VERBS + [""])[out["verb"]], "")
    return out


def assert_matches(outputs, expected, rows=slice(None)):
    for key, value in outputs.items():
        want = expected[key][rows]
        if np.asarray(value).dtype.kind in "OSU":
            np.testing.assert_array_equal(text(value), want, err_msg=key)
        else:
            np.testing.assert_allclose(value, want, atol=ATOL, rtol=ATOL, err_msg=key)


def run_signature(loaded, name, inputs):
    fn = loaded.signatures[name]
    out = fn(**{k: tf.constant(inputs[k]) for k in fn.structured_input_signature[1]})
    return {k: v.numpy() for k, v in out.items()}


def test_every_signature_matches_keras_in_a_fresh_process(exported, reference):
    assert reference["num_triplets"].min() > 0
    exported["probe"].output()
    results = dict(np.load(exported["probe_output"]))
    triplet_keys = set(client.TRIPLET_KEYS)
    map_keys = {"verb_logits", "target_logits", "embeddings", "anchors", "scale"}
    for name, keys in [("serving_default", triplet_keys), ("detect_encoded", triplet_keys), ("dense_maps", map_keys)]:
        outputs = {k.split("/", 1)[1]: v for k, v in results.items() if k.startswith(name + "/")}
        assert set(outputs) == keys, name
        assert_matches(outputs, reference)


def test_saved_model_cli_lists_the_three_signatures(exported):
    shown = exported["show"].output()
    for name in export.SIGNATURES:
        assert f"signature_def['{name}']" in shown
    assert "inputs['image_bytes'] tensor_info:\n        dtype: DT_STRING" in shown
    assert "outputs['verb_name'] tensor_info:\n        dtype: DT_STRING" in shown


def test_cli_export_from_a_run_dir(run):
    from tensorflow.core.protobuf import saved_model_pb2

    from calipso_tf.config import load_config, to_dict

    run["cli"].output()
    path = run["cli_path"]
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        (graph,) = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs
    signatures = sorted(k for k in graph.signature_def if not k.startswith("__"))  # not __saved_model_init_op
    assert signatures == sorted(export.SIGNATURES) and list(graph.meta_info_def.tags) == ["serve"]
    assets = os.path.join(path, "assets")
    assert open(os.path.join(assets, "verbs.txt")).read().splitlines() == VERBS
    assert open(os.path.join(assets, "objects.txt")).read().splitlines() == [f"{i}\t{n}" for i, n in OBJECTS]
    assert to_dict(load_config(os.path.join(assets, "config.yaml"))) == to_dict(run["config"])
    assert os.path.exists(os.path.join(path, export.WARMUP_FILE))
    assert os.listdir(os.path.dirname(path)) == ["3"]  # no temp folders left behind


def test_cli_export_matches_the_checkpointed_model(run, reference):
    run["cli"].output()
    assert_matches(run_signature(tf.saved_model.load(run["cli_path"]), "dense_maps", make_batch()[2]), reference)


def test_warmup_records_run_against_the_loaded_signatures(exported, loaded):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(os.path.join(exported["path"], export.WARMUP_FILE)).as_numpy_iterator())
    signatures = []
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        assert request.model_spec.name == "calipso"
        signatures.append(request.model_spec.signature_name)
        out = run_signature(loaded, request.model_spec.signature_name,
                            {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        assert out["scale" if "scale" in out else "num_triplets"].shape == (1,)
    assert sorted(signatures) == sorted(export.SIGNATURES)


@pytest.mark.parametrize("signature", ["serving_default", "detect_encoded"])
def test_client_predict_request_protos_run_against_the_loaded_signature(loaded, reference, tmp_path, signature):
    images, dets, _ = make_batch()
    path = str(tmp_path / "image0.png")
    tf.io.write_file(path, tf.io.encode_png(images[0]))
    inputs = client.build_inputs(path, dets[0], signature, MAX_DETECTIONS)
    request = type(export.predict_request({}, signature)).FromString(
        export.predict_request(inputs, signature).SerializeToString())
    out = run_signature(loaded, request.model_spec.signature_name,
                        {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
    assert_matches(out, reference, rows=slice(0, 1))
    triplets = client.first_image(out)
    lines = client.format_triplets(triplets, client.verb_table(triplets))
    assert len(lines) == reference["num_triplets"][0] and any(f"  {v}  " in lines[0] for v in VERBS)


class FakeServing:
    """TF Serving's REST and gRPC predict APIs in-process, backed by the loaded export."""

    def __init__(self, loaded):
        self.loaded = loaded

    def predict(self, signature, inputs):
        fn = self.loaded.signatures[signature]
        specs = fn.structured_input_signature[1]
        return fn(**{k: tf.constant(inputs[k], dtype=specs[k].dtype) for k in specs})

    def rest(self):
        import base64
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                assert self.path == "/v1/models/calipso:predict", self.path
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inputs = {k: [base64.b64decode(v["b64"]) for v in value] if isinstance(value[0], dict) else value
                          for k, value in body["inputs"].items()}
                out = fake.predict(body["signature_name"], inputs)
                payload = {"outputs": {k: (text(v.numpy()) if v.dtype == tf.string else v.numpy()).tolist()
                                       for k, v in out.items()}}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def grpc(self):
        from concurrent import futures

        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        fake = self

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):
                out = fake.predict(request.model_spec.signature_name,
                                   {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
                response = predict_pb2.PredictResponse()
                for k, v in out.items():
                    response.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
                return response

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        return server, f"127.0.0.1:{port}"


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_round_trip_over_rest_and_grpc(loaded, reference, tmp_path, protocol):
    images, dets, _ = make_batch()
    path = str(tmp_path / "image0.png")
    tf.io.write_file(path, tf.io.encode_png(images[0]))
    inputs = client.build_inputs(path, dets[0], "detect_encoded", MAX_DETECTIONS)
    fake = FakeServing(loaded)
    if protocol == "rest":
        server = fake.rest()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            out = client.rest_predict(f"http://127.0.0.1:{server.server_address[1]}", "calipso", "detect_encoded",
                                      inputs)
        finally:
            server.shutdown()
    else:
        server, target = fake.grpc()
        try:
            out = client.grpc_predict(target, "calipso", "detect_encoded", inputs)
        finally:
            server.stop(None)
    assert_matches(out, reference, rows=slice(0, 1))
    triplets = client.first_image(out)
    drawn = client.draw(path, triplets, client.verb_table(triplets), str(tmp_path / "drawn"))
    assert drawn and os.path.getsize(drawn) > 0


def test_bad_inputs_are_rejected_with_clear_errors(loaded):
    inputs = {k: v for k, v in make_batch()[2].items() if k != "image_bytes"}
    serve = loaded.signatures["serving_default"]

    def call(**kw):
        return serve(**{k: tf.constant(v) for k, v in kw.items()})

    cases = [
        (dict(inputs, images=inputs["images"].astype(np.float32)), "uint8"),  # dtype: the signature itself
        (dict(inputs, images=inputs["images"][0]), "images"),  # rank: checked in the graph
        (dict(inputs, boxes=inputs["boxes"][..., :3]), "boxes"),
        (dict(inputs, **detectors.pad_detections([detectors.Detections([[0, 0, 5, 5]] * 9, [1] * 9, [1.0] * 9)] * 2,
                                                MAX_DETECTIONS + 1)), f"more than {MAX_DETECTIONS} detections"),
    ]
    for case, message in cases:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call(**case)


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_impossible_values_are_rejected_naming_the_entry_in_a_fresh_process(exported, case):
    exported["reject"].output()
    with open(exported["rejected"]) as f:
        error = json.load(f)[case]
    signature, _, pattern = BAD_REQUESTS[case]
    assert error.startswith("InvalidArgumentError: ") and re.search(pattern, error), (signature, error)


def test_padding_past_num_detections_is_not_checked(loaded, reference):
    inputs = {k: v for k, v in make_batch()[2].items() if k != "image_bytes"}
    garbage = changed(changed(inputs, "boxes", (1, slice(3, None)), [np.nan, 9, -np.inf, 0]), "scores",
                      (0, 4), 3.06)
    assert_matches(run_signature(loaded, "serving_default", garbage), reference)


@pytest.mark.parametrize("count", [0, 5])
def test_empty_detections_give_no_triplets(loaded, count):
    inputs = {k: v for k, v in make_batch()[2].items() if k != "image_bytes"}
    empty = dict(inputs, boxes=np.zeros((2, count, 4), np.float32), category_ids=np.zeros((2, count), np.int32),
                scores=np.zeros((2, count), np.float32), num_detections=np.zeros(2, np.int32))
    out = run_signature(loaded, "serving_default", empty)
    np.testing.assert_array_equal(out["num_triplets"], [0, 0])
    assert (out["verb"] == -1).all() and (out["verb_name"] == b"").all() and (out["score"] == 0).all()


def test_existing_versions_are_kept_unless_overwrite(exported, run, tmp_path):
    with pytest.raises(FileExistsError, match="--overwrite"):
        export.export_savedmodel(run["model"], run["config"], exported["path"], VERBS, OBJECTS)
    with pytest.raises(ValueError, match="integer version"):
        export.check_output_dir(str(tmp_path / "calipso" / "latest"))
    old, new = tmp_path / "1", tmp_path / "new"
    old.mkdir(), new.mkdir()
    (new / "saved_model.pb").write_text("new")
    export._replace_dir(str(new), str(old))
    assert sorted(os.listdir(tmp_path)) == ["1"] and (old / "saved_model.pb").read_text() == "new"


def test_serving_config_files_parse():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    with open(os.path.join(REPO, "serving", "models.config")) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == ("calipso", "/models/calipso", "tensorflow")
    with open(os.path.join(REPO, "serving", "batching_parameters.txt")) as f:
        fields = {line.split()[0].rstrip(":") for line in f if line.strip() and not line.startswith("#")}
    assert fields == {"max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches",
                      "pad_variable_length_inputs"}


@pytest.mark.skipif(not os.environ.get("TF_SERVING_URL"),
                    reason="set TF_SERVING_URL=http://host:8501 to test a live server")
def test_client_against_live_tf_serving(tmp_path):
    images, dets, _ = make_batch()
    path = str(tmp_path / "image0.png")
    tf.io.write_file(path, tf.io.encode_png(images[0]))
    for signature in ("detect_encoded", "serving_default"):
        inputs = client.build_inputs(path, dets[0], signature, MAX_DETECTIONS)
        out = client.rest_predict(os.environ["TF_SERVING_URL"], os.environ.get("TF_SERVING_MODEL", "calipso"),
                                  signature, inputs)
        assert set(out) == set(client.TRIPLET_KEYS) and out["num_triplets"].shape == (1,)
