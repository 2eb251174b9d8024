"""Typed configuration: dataclasses loaded from ``configs/*.yaml``, overridable by flags.

One source of truth: every script builds its objects from a ``Config``; flags override
fields with dotted ``section.field=value`` strings (``--set model.embedding_dim=4``).
Every field is checked when a dataclass is built (``__post_init__``): its type (an int
field takes an integral number such as 2.0, never 2.5 or a boolean; a float field takes
an int) and its range, with a ValueError naming the field and the value.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, Callable, ClassVar

import yaml

from calipso_tf.constants import CANDIDATE_MODES


@dataclasses.dataclass(frozen=True)
class Rule:
    """The values a field allows: ``allows(value)`` on the value converted to the field's
    type; ``text`` says which, with ``{noun}`` ("integer", "number") and ``{kind}`` (with
    its article) standing for the field's type."""

    allows: Callable[[Any], bool]
    text: str


POSITIVE = Rule(lambda v: v > 0, "a positive {noun}")
NON_NEGATIVE = Rule(lambda v: v >= 0, "{kind} >= 0")
FRACTION = Rule(lambda v: 0 <= v <= 1, "{kind} in [0, 1]")
IOU = Rule(lambda v: 0 < v <= 1, "{kind} in (0, 1]")
BELOW_ONE = Rule(lambda v: 0 <= v < 1, "{kind} in [0, 1)")
NOT_EMPTY = Rule(bool, "a non-empty {noun}")
AT_LEAST_ONE = Rule(bool, "at least one")
INCREASING = Rule(lambda v: all(a < b for a, b in zip(v, v[1:])), "in increasing order")
# The FPN upsamples P5 (stride 32) to P4 and P3, so the input sides must divide by 32.
MULTIPLE_OF_32 = Rule(lambda v: v > 0 and v % 32 == 0, "a positive multiple of 32")


def one_of(*values) -> Rule:
    return Rule(lambda v: v in values, f"one of {list(values)}")


BACKBONE_DEPTHS = (18, 34, 50, 101)  # the ResNets of calipso_tf.modeling.backbone
RESNET_CONVENTIONS = ("keras_cv", "keras_applications")  # its stem + input preprocessing variants
# model.backbone: KerasCV ResNet + FPN (calipso_tf.modeling.backbone) or KerasHub's RetinaNet
# backbone from a preset (calipso_tf.modeling.keras_hub_backbone).
BACKBONES = ("keras_cv_resnet", "keras_hub_retinanet")
DATASETS = ("hico_det", "vcoco", "synthetic")  # what data_prep converts


def setting(default: Any, rule: Rule | None = None, whole: Rule | None = None) -> Any:
    """A dataclass field with its check: ``rule`` applies to the value (to each item of a
    tuple), ``whole`` to a tuple as a whole."""
    return dataclasses.field(default=default, metadata={"rule": rule, "whole": whole})


class Checked:
    """Base of the config dataclasses: converts and checks every field after __init__.

    ``section`` is the dotted name of the dataclass in a Config ("" for Config itself)."""

    section: ClassVar[str] = ""

    def __post_init__(self):
        hints = _type_hints(type(self))
        for field in dataclasses.fields(self):
            name = f"{self.section}.{field.name}" if self.section else field.name
            setattr(self, field.name, _checked(hints[field.name], getattr(self, field.name), field.metadata, name))


@dataclasses.dataclass
class AnchorConfig(Checked):
    """RetinaNet anchors: base size ``size_multiplier * stride`` on levels P3..P7."""

    section: ClassVar[str] = "model.anchors"
    min_level: int = setting(3, POSITIVE)
    max_level: int = setting(7, POSITIVE)
    num_scales: int = setting(3, POSITIVE)
    aspect_ratios: tuple[float, ...] = setting((0.5, 1.0, 2.0), POSITIVE, whole=AT_LEAST_ONE)
    size_multiplier: float = setting(4.0, POSITIVE)

    @property
    def anchors_per_location(self) -> int:
        return self.num_scales * len(self.aspect_ratios)


@dataclasses.dataclass
class ModelConfig(Checked):
    """Network shape and the paper's ablation switches."""

    section: ClassVar[str] = "model"
    num_verbs: int = setting(4, POSITIVE)
    image_size: tuple[int, int] = setting((512, 512), MULTIPLE_OF_32)
    backbone: str = setting("keras_cv_resnet", one_of(*BACKBONES))
    # keras_cv_resnet: backbone_depth/width (+ backbone_weights); keras_hub_retinanet: a KerasHub
    # preset name or local preset folder giving architecture, weights and input normalisation.
    backbone_preset: str = ""
    backbone_depth: int = setting(50, one_of(*BACKBONE_DEPTHS))
    backbone_width: float = setting(1.0, POSITIVE)
    # A KerasCV preset name, a local preset folder, or a weights file (calipso_tf.modeling.pretrained).
    backbone_weights: str = ""
    # The stem padding and input preprocessing the ResNet was trained with: keras_cv (x / 255,
    # 'same' padding) for KerasCV weights, keras_applications (caffe BGR means, zero-padded stem)
    # for keras.applications .h5 files. Kept in the run's config, so a checkpoint rebuilds the same network.
    resnet_convention: str = setting("keras_cv", one_of(*RESNET_CONVENTIONS))
    head_blocks: int = setting(8, POSITIVE)
    head_channels: int = setting(256, POSITIVE)
    embedding_dim: int = setting(8, POSITIVE)
    share_head_weights: bool = True
    passive_branch: bool = True
    target_branch: bool = True
    # BatchNorm in inference mode (moving statistics) and gamma/beta not trained; see CalipsoModel.
    freeze_batch_norm: bool = False
    # The same for the backbone's BatchNorm only (ResNet + FPN): the usual choice when fine-tuning pretrained
    # weights with a few images per device, while the head's BatchNorm still learns. configs/hico_det.yaml
    # and vcoco.yaml set it.
    freeze_backbone_batch_norm: bool = False
    # The head's BatchNorm over P3..P7 when the head is shared: one set blended over the levels
    # (the paper) or one per level with the convolutions still shared (EfficientDet). Unshared heads
    # (share_head_weights false) normalise each level on its own either way. configs/*.yaml choose
    # per_level (better on the synthetic task, BENCHMARKS.md); the fallback stays "shared" because a
    # model dir's config.yaml written before this field existed describes a shared-BatchNorm checkpoint.
    head_batch_norm: str = setting("shared", one_of("shared", "per_level"))
    # Training and decoding evaluate the three branches only at the anchors they read (same values).
    read_only_head: bool = True
    anchors: AnchorConfig = dataclasses.field(default_factory=AnchorConfig)


@dataclasses.dataclass
class LossConfig(Checked):
    """Loss weights of eq. 5-8 and the anchor assignment rule."""

    section: ClassVar[str] = "loss"
    lambda_pull: float = setting(10.0, NON_NEGATIVE)
    gamma_push: float = setting(100.0, NON_NEGATIVE)
    sigma: float = setting(2.0, POSITIVE)
    match_iou: float = setting(0.5, IOU)
    force_match_best_anchor: bool = False
    max_assigned_anchors: int = setting(1024, POSITIVE)


@dataclasses.dataclass
class DataConfig(Checked):
    """Where the shards are and how examples are batched."""

    section: ClassVar[str] = "data"
    dataset: str = setting("synthetic", one_of(*DATASETS))
    data_dir: str = setting("work_dirs/synthetic/shards", NOT_EMPTY)
    train_split: str = setting("train", NOT_EMPTY)
    eval_split: str = setting("test", NOT_EMPTY)
    max_boxes: int = setting(0, NON_NEGATIVE)  # 0: the manifest's size of the split (docs/DATA.md)
    max_triplets: int = setting(0, NON_NEGATIVE)
    shuffle_buffer: int = setting(512, POSITIVE)
    horizontal_flip: bool = True
    cache: bool = False
    synthetic_num_train: int = setting(1200, POSITIVE)
    synthetic_num_test: int = setting(200, POSITIVE)


@dataclasses.dataclass
class TrainConfig(Checked):
    """Optimiser and schedule; the defaults are the paper's recipe."""

    section: ClassVar[str] = "train"
    batch_size: int = setting(10, POSITIVE)
    learning_rate: float = setting(0.016, POSITIVE)
    reference_batch_size: int = setting(10, POSITIVE)
    momentum: float = setting(0.9, BELOW_ONE)
    weight_decay: float = setting(1e-4, NON_NEGATIVE)
    # coupled: L2 on the gradient before momentum (PyTorch SGD, the paper); decoupled: Keras' w -= lr*wd*w
    weight_decay_mode: str = setting("decoupled", one_of("coupled", "decoupled"))
    decay_batch_norm_and_bias: bool = setting(False)  # False: BatchNorm gamma/beta and biases are not decayed
    total_steps: int = setting(30000, POSITIVE)
    lr_decay_steps: tuple[int, ...] = setting((25000,), NON_NEGATIVE, whole=INCREASING)
    lr_decay_factor: float = setting(0.1, POSITIVE)
    warmup_steps: int = setting(500, NON_NEGATIVE)
    clip_global_norm: float = setting(0.0, NON_NEGATIVE)  # 0: no clipping
    checkpoint_every: int = setting(1000, POSITIVE)
    log_every: int = setting(50, POSITIVE)
    keep_checkpoints: int = setting(3, POSITIVE)
    seed: int = setting(0, NON_NEGATIVE)


@dataclasses.dataclass
class InferenceConfig(Checked):
    """Triplet decoding options (docs/method.md eq. 10-12)."""

    section: ClassVar[str] = "inference"
    score_threshold: float = setting(0.0, FRACTION)
    top_k: int = setting(100, POSITIVE)
    mapping_iou: float = setting(0.5, IOU)
    # HICO-DET evaluation (evaluate.py --checkpoint): "all" ranks every valid (person, verb, target)
    # candidate for the top_k, "best" only each (person, verb)'s best one (the paper's rule, which
    # predict.py, serving and V-COCO keep). docs/inference.md has the measured difference.
    candidates: str = setting("all", one_of(*CANDIDATE_MODES))
    # D, the detections decoded per image: 0 = the largest count the detection source holds (nothing
    # dropped; a detector: its own cap); > 0 = a fixed cap, the highest-scoring kept and the rest counted.
    max_detections: int = setting(0, NON_NEGATIVE)
    detection_score_threshold: float = setting(0.0, FRACTION)
    # iCAN/TIN pickles: humans / objects below these are dropped; UPT folders: label convention.
    detection_human_threshold: float = setting(0.8, FRACTION)
    detection_object_threshold: float = setting(0.3, FRACTION)
    detection_labels: str = setting("hico80", one_of("hico80", "coco"))


@dataclasses.dataclass
class Config(Checked):
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    inference: InferenceConfig = dataclasses.field(default_factory=InferenceConfig)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_KINDS = {int: ("integer", "an integer"), float: ("number", "a number"), bool: ("boolean", "a boolean"),
          str: ("string", "a string")}


def _tuple_shape(field_type: Any) -> tuple[type, int | None] | None:
    """(item type, length or None for any) of a ``tuple[...]`` annotation; None for other types."""
    if typing.get_origin(field_type) is not tuple:
        return None
    item_type, *rest = typing.get_args(field_type)
    return item_type, None if rest == [Ellipsis] else len(rest) + 1


def _checked(field_type: Any, value: Any, metadata: Any, name: str) -> Any:
    """``value`` converted to ``field_type``; ValueError naming the field unless it fits the type and rules."""
    if dataclasses.is_dataclass(field_type):
        if not isinstance(value, field_type):
            raise ValueError(f"{name} must be a mapping of {field_type.__name__} fields, got {value!r}")
        return value
    rule, whole = metadata.get("rule"), metadata.get("whole")
    shape = _tuple_shape(field_type)
    converted = _tuple(*shape, value) if shape else _scalar(field_type, value)
    items = converted if shape else (converted,)
    fits = converted is not None and (rule is None or all(rule.allows(v) for v in items)) \
        and (whole is None or whole.allows(converted))
    if not fits:
        raise ValueError(f"{name} must be {_describe(field_type, rule, whole)}, got {value!r}")
    return converted


def _describe(field_type: Any, rule: Rule | None, whole: Rule | None) -> str:
    """What a field must be, e.g. "a positive integer" or "a list of 2 integers, each a positive multiple of 32"."""
    shape = _tuple_shape(field_type)
    noun, kind = _KINDS[shape[0] if shape else field_type]
    if not shape:
        return rule.text.format(noun=noun, kind=kind) if rule else kind
    parts = [f"a list of {'' if shape[1] is None else f'{shape[1]} '}{noun}s"]
    if rule:
        parts.append("each " + rule.text.format(noun=noun, kind=kind))
    if whole:
        parts.append(whole.text)
    return ", ".join(parts)


def _scalar(kind: type, value: Any) -> Any:
    """``value`` as an int, float, bool or str (``kind``), or None when it is not one."""
    if kind is str:
        return value if isinstance(value, str) else None
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        return bool(value) if isinstance(value, int) and value in (0, 1) else None
    if isinstance(value, str):  # flags, and YAML 1.1 reads 1e-3 as a string
        value = _number(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if kind is int:
        return value if isinstance(value, int) else int(value) if value.is_integer() else None
    return float(value)


def _number(text: str) -> int | float | None:
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return None


def _tuple(item_type: type, length: int | None, value: Any) -> tuple | None:
    """A list, tuple, YAML list string or scalar (one item) as a tuple of ``length`` (None: any)
    items of ``item_type``, or None when it is not one."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            return None
    if not isinstance(value, (list, tuple)):
        value = [value]
    items = tuple(_scalar(item_type, v) for v in value)
    if None in items or (length is not None and len(items) != length):
        return None
    return items


def from_dict(cls: type, data: dict[str, Any] | None, where: str = "config") -> Any:
    """Builds dataclass ``cls`` from a nested dict, rejecting unknown keys and bad values.

    ValueError "<where>: <field> ...", e.g. "configs/x.yaml: train.batch_size must be a positive integer, got 2.5".
    """
    try:
        return _build(cls, {} if data is None else data)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _build(cls: type, data: Any) -> Any:
    label = cls.section or "the config"
    if not isinstance(data, dict):
        raise ValueError(f"{label} must be a mapping, got {data!r}")
    hints = _type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        what = f"{cls.section}: unknown field(s)" if cls.section else "unknown section(s)"
        raise ValueError(f"{what} {unknown}; known: {sorted(names)}")
    return cls(**{k: _build(hints[k], v) if dataclasses.is_dataclass(hints[k]) else v for k, v in data.items()})


def to_dict(config: Any) -> dict[str, Any]:
    """Dataclass -> plain nested dict (tuples as lists), YAML/JSON friendly."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(dataclasses.asdict(config))


def flatten(config: Config) -> dict[str, Any]:
    """Dotted field name -> value (lists for tuples), e.g. {"model.anchors.min_level": 3, ...}."""
    def items(node: dict, prefix: str):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from items(value, f"{prefix}{key}.")
            else:
                yield prefix + key, value
    return dict(items(to_dict(config), ""))


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Applies ``section.field=value`` strings; values are parsed as YAML scalars, except that a
    string field keeps the text as given (``data.data_dir=2024`` is the folder "2024")."""
    data = to_dict(config)
    checked = None
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
        value = yaml.safe_load(raw)
        node[leaf] = raw if isinstance(node[leaf], str) and not isinstance(value, str) else value
        checked = from_dict(Config, data, where=f"override {item!r}")  # names the override that makes a value bad
    return checked if checked is not None else from_dict(Config, data)


def load_config(path: str | None = None, overrides: list[str] | None = None) -> Config:
    """Reads a YAML config (missing sections keep defaults) and applies overrides.

    ValueError naming the file (or the override) and the field for an unknown key or a bad value.
    """
    data = {}
    if path:
        with open(path) as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as e:
                raise ValueError(f"{path}: not valid YAML ({e})") from None
    config = from_dict(Config, data, where=path or "config")
    return apply_overrides(config, overrides or [])


def save_config(config: Config, path: str) -> None:
    """Writes the config as YAML atomically (temp file then rename)."""
    from calipso_tf.fileio import atomic_write

    atomic_write(path, lambda f: yaml.safe_dump(to_dict(config), f, sort_keys=False))
