"""Shared fixtures: a tiny V-COCO release, a fresh Keras session per test and quiet TensorFlow logging."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture()
def vcoco(tmp_path):
    """tmp_path holding a tiny release in the official V-COCO layout (vcoco_files.write_vcoco)."""
    from vcoco_files import write_vcoco  # imports TensorFlow: only for the tests that use it

    return write_vcoco(tmp_path)


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Layer-name counters and the global RNG state do not leak from one test into the next."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
