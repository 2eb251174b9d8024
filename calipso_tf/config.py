"""Typed configuration: dataclasses loaded from ``configs/*.yaml``, overridable by flags.

One source of truth: every script builds its objects from a ``Config``; flags override
fields with dotted ``section.field=value`` strings (``--set model.embedding_dim=4``).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import yaml


@dataclasses.dataclass
class AnchorConfig:
    """RetinaNet anchors: base size ``size_multiplier * stride`` on levels P3..P7."""

    min_level: int = 3
    max_level: int = 7
    num_scales: int = 3
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    size_multiplier: float = 4.0

    @property
    def anchors_per_location(self) -> int:
        return self.num_scales * len(self.aspect_ratios)


@dataclasses.dataclass
class ModelConfig:
    """Network shape and the paper's ablation switches."""

    num_verbs: int = 4
    image_size: tuple[int, int] = (512, 512)
    backbone_depth: int = 50
    backbone_width: float = 1.0
    backbone_weights: str = ""
    head_blocks: int = 8
    head_channels: int = 256
    embedding_dim: int = 8
    share_head_weights: bool = True
    passive_branch: bool = True
    target_branch: bool = True
    # BatchNorm in inference mode (moving statistics) and gamma/beta not trained; see CalipsoModel.
    freeze_batch_norm: bool = False
    anchors: AnchorConfig = dataclasses.field(default_factory=AnchorConfig)


@dataclasses.dataclass
class LossConfig:
    """Loss weights of eq. 5-8 and the anchor assignment rule."""

    lambda_pull: float = 10.0
    gamma_push: float = 100.0
    sigma: float = 2.0
    match_iou: float = 0.5
    force_match_best_anchor: bool = False
    max_assigned_anchors: int = 1024


@dataclasses.dataclass
class DataConfig:
    """Where the shards are and how examples are batched."""

    dataset: str = "synthetic"
    data_dir: str = "work_dirs/synthetic/shards"
    train_split: str = "train"
    eval_split: str = "test"
    max_boxes: int = 32
    max_triplets: int = 64
    shuffle_buffer: int = 512
    horizontal_flip: bool = True
    cache: bool = False
    synthetic_num_train: int = 1200
    synthetic_num_test: int = 200


@dataclasses.dataclass
class TrainConfig:
    """Optimiser and schedule; the defaults are the paper's recipe."""

    batch_size: int = 10
    learning_rate: float = 0.016
    reference_batch_size: int = 10
    momentum: float = 0.9
    weight_decay: float = 1e-4
    total_steps: int = 30000
    lr_decay_steps: tuple[int, ...] = (25000,)
    lr_decay_factor: float = 0.1
    warmup_steps: int = 500
    clip_global_norm: float = 0.0
    checkpoint_every: int = 1000
    log_every: int = 50
    keep_checkpoints: int = 3
    seed: int = 0


@dataclasses.dataclass
class InferenceConfig:
    """Triplet decoding options (docs/method.md eq. 10-12)."""

    score_threshold: float = 0.0
    top_k: int = 100
    mapping_iou: float = 0.5
    max_detections: int = 64
    detection_score_threshold: float = 0.0


@dataclasses.dataclass
class Config:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    inference: InferenceConfig = dataclasses.field(default_factory=InferenceConfig)


def _coerce(field_type: Any, value: Any, where: str) -> Any:
    """Converts a YAML/flag value to the dataclass field's declared type."""
    if dataclasses.is_dataclass(field_type):
        return from_dict(field_type, value, where)
    origin = typing.get_origin(field_type)
    if origin is tuple:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, (list, tuple)):
            value = [value]
        item_type = typing.get_args(field_type)[0]
        return tuple(item_type(v) for v in value)
    if field_type is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{where}: expected a boolean, got {value!r}")
        return value.lower() in ("true", "1")
    try:
        return field_type(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: cannot read {value!r} as {field_type.__name__}") from e


def from_dict(cls: type, data: dict[str, Any] | None, where: str = "config") -> Any:
    """Builds dataclass ``cls`` from a nested dict, rejecting unknown keys."""
    data = data or {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(names)}")
    return cls(**{k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()})


def to_dict(config: Any) -> dict[str, Any]:
    """Dataclass -> plain nested dict (tuples as lists), YAML/JSON friendly."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(dataclasses.asdict(config))


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Applies ``section.field=value`` strings; values are parsed as YAML scalars."""
    data = to_dict(config)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected section.field=value")
        key, raw = item.split("=", 1)
        node = data
        *parents, leaf = key.strip().split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ValueError(f"override {item!r}: no section {part!r}")
            node = node[part]
        if leaf not in node:
            raise ValueError(f"override {item!r}: unknown field {leaf!r}; known: {sorted(node)}")
        node[leaf] = yaml.safe_load(raw)
    return from_dict(Config, data)


def load_config(path: str | None = None, overrides: list[str] | None = None) -> Config:
    """Reads a YAML config (missing sections keep defaults) and applies overrides."""
    data = {}
    if path:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    config = from_dict(Config, data, where=path or "config")
    return apply_overrides(config, overrides or [])


def save_config(config: Config, path: str) -> None:
    """Writes the config as YAML atomically (temp file then rename)."""
    from calipso_tf.fileio import atomic_write

    atomic_write(path, lambda f: yaml.safe_dump(to_dict(config), f, sort_keys=False))
