"""The five scripts' command-line failures: --help exits 0, flag and usage errors and expected errors are one
line, tracebacks only with --verbose, and TensorFlow's start-up log lines do not reach the user."""

import os
import subprocess
import sys

import pytest

from calipso_tf import quiet_start

from harness import REPO_ROOT

SCRIPTS = {"train.py": "--model_dir", "evaluate.py": "--predictions", "predict.py": "--images",
           "export_savedmodel.py": "--max_detections", "client.py": "--protocol"}
START_UP_NOISE = ("I0000", "cudart_stub", "oneDNN", "absl::InitializeLog", "cuInit")


def run_script(script: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    """The script as a user runs it: TF_CPP_MIN_LOG_LEVEL unset (the scripts' own default applies), CPU only."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, os.path.join(REPO_ROOT, script), *args], capture_output=True, text=True,
                          env={**env, "CUDA_VISIBLE_DEVICES": ""}, cwd=cwd or REPO_ROOT, timeout=120)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_exits_0_and_lists_the_scripts_flags(script):
    result = run_script(script, "--help")
    assert result.returncode == 0, result.stderr
    assert f"{SCRIPTS[script]}:" in result.stdout and "--[no]verbose:" in result.stdout
    assert not any(noise in result.stderr for noise in START_UP_NOISE), result.stderr


def test_predict_help_documents_every_input_kind():
    flags_help = run_script("predict.py", "--help").stdout.split("\nflags:\n")[1]
    text = " ".join(flags_help.split())
    # Images and folders, FFmpeg videos and animated images.
    for kind in (".jpg .jpeg .png .bmp .gif .webp", "folders", ".mp4 .mov .avi .mkv .webm", "animated GIF/PNG/WebP"):
        assert kind in text, kind
    # Every detections source detectors.make_source reads.
    for kind in ("gt (the boxes of --annotations)", "retinanet:WEIGHTS (the built-in", "FILE.json", "FILE.pkl",
                 "FOLDER/ of UPT per-image JSONs"):
        assert kind in text, kind


def test_unknown_flag_is_one_line():
    result = run_script("train.py", "--stpes=3")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["train.py: error: Unknown command line flag 'stpes'. Did you mean: steps ?; "
                                          "try --help"]


def test_usage_error_prints_the_reason_not_the_help():
    result = run_script("evaluate.py")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["evaluate.py: error: give --predictions (score a file) or --checkpoint "
                                          "(evaluate a model); try --help"]


def test_expected_error_is_one_line_and_verbose_adds_the_traceback(tmp_path):
    args = ["--dataset=hico_det", f"--annotations={tmp_path / 'test_hico.json'}", "--train-annotations=x.json",
            "--predictions=p.json", f"--output={tmp_path / 'metrics.json'}"]
    result = run_script("evaluate.py", *args)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"evaluate.py: error: {tmp_path / 'test_hico.json'}: no such file"]
    verbose = run_script("evaluate.py", *args, "--verbose")
    assert verbose.returncode == 1 and verbose.stderr.startswith("Traceback (most recent call last):")
    assert verbose.stderr.splitlines()[-1] == result.stderr.strip()


def test_missing_checkpoint_is_one_line_without_tensorflow_noise(tmp_path):
    """predict.py imports TensorFlow before it looks for the checkpoint: nothing but the error reaches stderr."""
    (tmp_path / "x.jpg").write_bytes(b"")
    result = run_script("predict.py", f"--checkpoint={tmp_path / 'run'}", f"--images={tmp_path / 'x.jpg'}",
                        cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"predict.py: error: {tmp_path / 'run'}: no such checkpoint "
                                          f"({tmp_path / 'run'}.index missing)"]


@pytest.mark.parametrize("line, min_level, no_gpu, dropped", [
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n", 2, False, True),
    ("I0000 00:00:1796225511.907644   24899 port.cc:153] oneDNN custom operations are on.\n", 2, False, True),
    ("I0000 00:00:1796225511.907644   24899 port.cc:153] oneDNN custom operations are on.\n", 0, False, False),
    ("2025-09-17 14:44:05.157831: W external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] no cuda\n", 2, False, True),
    ("E0000 00:00:1796225514.347626   24899 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n",
     2, True, True),
    ("E0000 00:00:1796225514.347626   24899 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n",
     2, False, False),
    ("E0315 14:44:05.157831   24899 op_kernel.cc:1] something the user must see\n", 2, True, False),
    ("/site-packages/keras/src/x.py:74: UserWarning: a Python warning\n", 3, True, False),
])
def test_start_up_noise(line, min_level, no_gpu, dropped):
    assert quiet_start.is_start_up_noise(line, min_level, no_gpu) == dropped


@pytest.mark.parametrize("level, noisy", [("2", False), ("0", True)])
def test_shard_writer_processes_are_quiet_too(tmp_path, level, noisy):
    """data_prep's worker processes import TensorFlow themselves: TF_CPP_MIN_LOG_LEVEL (which the scripts
    default to 2) hides their start-up lines as well; 0 shows them."""
    command = [sys.executable, "-m", "data_prep", "--dataset", "synthetic", "--output", str(tmp_path / "shards"),
               "--synthetic-train", "4", "--synthetic-test", "2", "--num-shards", "2", "--workers", "2",
               "--no-progress"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": level, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=180)
    assert result.returncode == 0, result.stderr
    assert any(noise in result.stderr for noise in START_UP_NOISE) == noisy, result.stderr
