"""Distribution: MirroredStrategy over 2 logical CPUs equals one device; two
MultiWorkerMirroredStrategy workers on localhost end with identical weights."""

import json
import socket
import subprocess
import sys

import pytest

from harness import REPO_ROOT as ROOT
from train_util import assert_same_checkpoints, make_dataset, subprocess_env, train_command

# One step of MirroredStrategy over 2 logical CPUs (custom loop, the default with several
# replicas) against the single-device step on the same global batch, from a common
# 1-step start (the strategies draw initial values differently; the start gives non-trivial
# momentum and BN statistics).
# - model.freeze_batch_norm: the step does not depend on how the batch is split, so the
#   checkpoints agree to float32 rounding (measured 7.5e-9): checked at 1e-6.
# - synchronized BatchNorm in training mode (the default): mathematically the same step
#   (float64: gradients agree to 4e-14), but in float32 a few activations of the flat
#   synthetic images sit on ReLU / max-pool kinks and the split reduction order flips them,
#   which moves the first layers' gradients by up to ~4e-3 relative; measured 1.1e-4
#   on the stem / stack-1 weights after one step, so checked at 5e-4 (docs/TRAINING.md).
# Generous: on a loaded 2-core machine the mirrored run took 258 s (about a minute when idle).
SUBPROCESS_TIMEOUT_S = 600
MIRRORED_SCRIPT = """
import logging
import shutil
import sys
import tensorflow as tf
logging.basicConfig(level=logging.INFO)
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {root!r})
from calipso_tf.training import engine
from harness import tiny_training_config
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert mirrored.num_replicas_in_sync == 2
for name, freeze in (("frozen", True), ("sync", False)):
    def config(steps):
        c = tiny_training_config({data!r}, total_steps=steps)
        c.model.freeze_batch_norm = freeze
        return c
    single, mirrored_dir = {tmp!r} + "/single_" + name, {tmp!r} + "/mirrored_" + name
    engine.train(config(1), single, verbose=0)
    shutil.copytree(single, mirrored_dir)
    engine.train(config(2), single, strategy="default", verbose=0)
    engine.train(config(2), mirrored_dir, strategy=mirrored, verbose=0)
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny_data"))


def test_mirrored_two_replicas_equal_single_device(data_dir, tmp_path):
    script = MIRRORED_SCRIPT.format(root=ROOT, data=data_dir, tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=subprocess_env(), cwd=ROOT, capture_output=True,
                          text=True, timeout=SUBPROCESS_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "2 replica(s) on 1 worker(s); loop custom" in done.stderr
    assert "synchronized BatchNorm True, frozen BatchNorm True" in done.stderr
    assert "synchronized BatchNorm True, frozen BatchNorm False" in done.stderr
    ckpt = "checkpoints/ckpt-2"
    assert_same_checkpoints(str(tmp_path / "single_frozen" / ckpt), str(tmp_path / "mirrored_frozen" / ckpt),
                            atol=1e-6)
    assert_same_checkpoints(str(tmp_path / "single_sync" / ckpt), str(tmp_path / "mirrored_sync" / ckpt),
                            atol=5e-4)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_finish_with_identical_weights(data_dir, tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    model_dir = tmp_path / "run"
    command = train_command(data_dir, str(model_dir), 4, "--strategy=multi_worker")
    workers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=subprocess_env(TF_CONFIG=json.dumps({"cluster": cluster,
                                                                         "task": {"type": "worker", "index": i}})))
               for i in range(2)]
    try:
        outputs = [w.communicate(timeout=SUBPROCESS_TIMEOUT_S) for w in workers]
    finally:  # a worker left waiting for its peer would outlive the test run
        for w in workers:
            w.kill()
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-5000:]
    summaries = [json.loads(out[out.index("{"):]) for out, _ in outputs]
    assert [s["steps"] for s in summaries] == [4, 4]
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
    assert "loop custom" in outputs[0][1] and "2 replica(s) on 2 worker(s)" in outputs[0][1]
    assert "(not chief)" in outputs[1][1]
    # Only the chief's checkpoints are kept, in the shared model dir.
    assert sorted(p.name for p in (model_dir / "checkpoints").glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-4.index"]
