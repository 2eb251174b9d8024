"""Typed config: YAML <-> dataclasses, overrides and error messages."""

import re
from pathlib import Path

import pytest
import yaml
from harness import REPO_ROOT, tiny_config, tiny_training_config

from calipso_tf.config import (AnchorConfig, Config, LossConfig, ModelConfig, TrainConfig, apply_overrides,
                               from_dict, load_config, save_config, to_dict)

CONFIG_DIR = Path(REPO_ROOT) / "configs"
CONFIG_FILES = sorted(CONFIG_DIR.glob("*.yaml"))


def test_config_files_exist():
    assert {p.name for p in CONFIG_FILES} >= {"hico_det.yaml", "vcoco.yaml", "synthetic.yaml"}


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_every_config_file_loads(path):
    config = load_config(str(path))
    assert isinstance(config, Config)
    raw = yaml.safe_load(path.read_text())
    # Every value written in the file reaches the dataclass (tuples compared as lists).
    data = to_dict(config)
    for section, fields in raw.items():
        for name, value in fields.items():
            assert data[section][name] == value, f"{section}.{name}"
    assert isinstance(config.model.image_size, tuple) and all(isinstance(v, int) for v in config.model.image_size)
    assert isinstance(config.train.lr_decay_steps, tuple)


def test_known_values_of_shipped_configs():
    hico = load_config(str(CONFIG_DIR / "hico_det.yaml"))
    assert (hico.model.num_verbs, hico.model.image_size, hico.model.backbone_depth) == (117, (640, 640), 50)
    assert hico.loss == LossConfig(max_assigned_anchors=2048)  # the paper's lambda 10, gamma 100, sigma 2
    synth = load_config(str(CONFIG_DIR / "synthetic.yaml"))
    assert synth.model.backbone_depth == 18 and synth.model.backbone_width == 0.5
    assert synth.train.lr_decay_steps == (1200,)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_yaml_dataclass_dict_yaml_round_trip(path, tmp_path):
    config = load_config(str(path))
    out = tmp_path / "sub" / "saved.yaml"
    save_config(config, str(out))
    again = load_config(str(out))
    assert again == config
    assert yaml.safe_load(out.read_text()) == to_dict(config)
    assert from_dict(Config, to_dict(config)) == config
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]  # no temp file left behind


def test_missing_sections_keep_defaults(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("model:\n  num_verbs: 7\n")
    config = load_config(str(path))
    assert config.model.num_verbs == 7
    assert config.model.head_blocks == ModelConfig().head_blocks == 8
    assert config.loss == LossConfig() and config.train == Config().train
    assert load_config(None) == Config()


def test_overrides_scalars_tuples_booleans():
    config = apply_overrides(Config(), [
        "model.embedding_dim=4",
        "model.image_size=[96,128]",
        "model.share_head_weights=false",
        "model.passive_branch=False",
        "loss.force_match_best_anchor=true",
        "train.lr_decay_steps=[100, 200]",
        "train.learning_rate=1e-3",
        "model.anchors.aspect_ratios=[1.0]",
        "data.data_dir=some/where",
    ])
    m = config.model
    assert m.embedding_dim == 4 and isinstance(m.embedding_dim, int)
    assert m.image_size == (96, 128)
    assert m.share_head_weights is False and m.passive_branch is False and m.target_branch is True
    assert config.loss.force_match_best_anchor is True
    assert config.train.lr_decay_steps == (100, 200)
    assert config.train.learning_rate == pytest.approx(1e-3) and isinstance(config.train.learning_rate, float)
    assert m.anchors.aspect_ratios == (1.0,) and m.anchors.anchors_per_location == 3
    assert config.data.data_dir == "some/where"
    # Untouched fields keep their values.
    assert m.head_blocks == 8 and config.loss.lambda_pull == 10.0


def test_overrides_apply_after_file(tmp_path):
    config = load_config(str(CONFIG_DIR / "synthetic.yaml"), ["model.head_blocks=2", "train.batch_size=3"])
    assert config.model.head_blocks == 2 and config.train.batch_size == 3
    assert config.model.backbone_depth == 18  # from the file


def test_scalar_becomes_one_element_tuple():
    assert apply_overrides(Config(), ["train.lr_decay_steps=500"]).train.lr_decay_steps == (500,)


@pytest.mark.parametrize("override, message", [
    ("model.embeding_dim=4", "embeding_dim"),
    ("modle.embedding_dim=4", "modle"),
    ("model.anchors.scales=3", "scales"),
    ("model.embedding_dim", "section.field=value"),
])
def test_unknown_override_keys_name_the_field(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(Config(), [override])


@pytest.mark.parametrize("text, message", [
    ("model:\n  num_verbs: 3\n  head_blokcs: 2\n", r"model: unknown field.*head_blokcs"),
    ("modell:\n  num_verbs: 3\n", r"unknown section.*modell"),
    ("train:\n  batch_size: 2.5\n", r"train\.batch_size must be a positive integer, got 2\.5$"),
    ("train: [1\n", "not valid YAML"),
])
def test_bad_yaml_names_the_file_and_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.yaml: " + message):
        load_config(str(path))


@pytest.mark.parametrize("override, message", [
    ("model.share_head_weights=maybe", "model.share_head_weights"),
    ("model.embedding_dim=four", "model.embedding_dim"),
    ("model.anchors=3", "model.anchors"),
])
def test_bad_values_are_clear_errors(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(Config(), [override])


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=2.5", "train.batch_size must be a positive integer, got 2.5"),
    ("train.batch_size=0", "train.batch_size must be a positive integer, got 0"),
    ("train.batch_size=true", "train.batch_size must be a positive integer, got True"),
    ("train.learning_rate=-0.01", r"train.learning_rate must be a positive number, got -0.01"),
    ("train.learning_rate=.nan", "train.learning_rate must be a positive number, got nan"),
    ("train.momentum=1.0", r"train.momentum must be a number in \[0, 1\), got 1.0"),
    ("train.weight_decay=-1e-4", "train.weight_decay must be a number >= 0, got '-1e-4'"),
    ("train.lr_decay_steps=[200, 100]", r"train.lr_decay_steps must be .* in increasing order, got \[200, 100\]"),
    ("train.lr_decay_steps=[-5]", r"train.lr_decay_steps must be .*each an integer >= 0.*, got \[-5\]"),
    ("train.checkpoint_every=0", "train.checkpoint_every must be a positive integer, got 0"),
    ("model.image_size=[96, 100]", r"model.image_size must be a list of 2 integers, each a positive multiple of 32"),
    ("model.image_size=[96, 96, 96]", r"model.image_size must be a list of 2 integers"),
    ("model.backbone_depth=20", r"model.backbone_depth must be one of \[18, 34, 50, 101\], got 20"),
    ("model.head_blocks=0", "model.head_blocks must be a positive integer, got 0"),
    ("model.anchors.aspect_ratios=[]", "model.anchors.aspect_ratios must be .*at least one, got"),
    ("loss.match_iou=0", r"loss.match_iou must be a number in \(0, 1\], got 0"),
    ("loss.sigma=0", "loss.sigma must be a positive number, got 0"),
    ("inference.score_threshold=1.5", r"inference.score_threshold must be a number in \[0, 1\], got 1.5"),
    ("inference.mapping_iou=1.01", r"inference.mapping_iou must be a number in \(0, 1\], got 1.01"),
    ("inference.candidates=every", r"inference.candidates must be one of \['best', 'all'\], got 'every'"),
    ("data.dataset=coco", "data.dataset must be one of .*hico_det.*, got 'coco'"),
    ("data.data_dir=", "data.data_dir must be a non-empty string, got ''"),
    ("data.cache=2", "data.cache must be a boolean, got 2"),
])
def test_impossible_values_name_the_override_field_and_value(override, message):
    with pytest.raises(ValueError, match=f"override '{re.escape(override)}': {message}"):
        apply_overrides(Config(), ["model.head_blocks=2", override])


def test_impossible_value_in_a_dataclass_is_refused():
    with pytest.raises(ValueError, match="train.batch_size must be a positive integer, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"model.image_size must be .*multiple of 32, got \(64, 65\)"):
        tiny_config(image_size=(64, 65))


def test_numbers_convert_only_without_loss():
    config = apply_overrides(Config(), ["train.batch_size=4.0", "train.learning_rate=1", "data.data_dir=2024",
                                        "model.image_size=[64.0, 96]", "data.cache=1"])
    assert config.train.batch_size == 4 and isinstance(config.train.batch_size, int)
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)
    assert config.data.data_dir == "2024"  # a string field keeps the text as typed
    assert config.model.image_size == (64, 96) and all(isinstance(v, int) for v in config.model.image_size)
    assert config.data.cache is True


def test_the_tests_tiny_configs_are_valid():
    assert tiny_config().model.image_size == (64, 64)
    assert tiny_training_config("shards").model.image_size == (96, 96)


def test_dataclass_defaults_are_the_paper():
    config = Config()
    assert (config.loss.lambda_pull, config.loss.gamma_push, config.loss.sigma, config.loss.match_iou) == (10, 100, 2, 0.5)
    assert config.model.head_blocks == 8 and config.model.share_head_weights and config.model.passive_branch
    assert (config.train.learning_rate, config.train.momentum, config.train.weight_decay, config.train.batch_size) == (
        0.016, 0.9, 1e-4, 10)
    assert AnchorConfig().anchors_per_location == 9
    # to_dict gives YAML/JSON-friendly lists where the dataclass holds tuples.
    data = to_dict(config)
    assert data["model"]["image_size"] == [512, 512] and data["model"]["anchors"]["aspect_ratios"] == [0.5, 1.0, 2.0]
    assert yaml.safe_load(yaml.safe_dump(data)) == data
