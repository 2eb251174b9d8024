"""Printed result tables in the paper's layout, and the metrics.json writer."""

from __future__ import annotations

import dataclasses
import json
import math

from calipso_tf.fileio import atomic_write


def metrics_dict(result) -> dict:
    """The fields of a HicoMetrics / VcocoMetrics result, without the plot-only ``curves``."""
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "curves"}


def _cell(value) -> str:
    return "   n/a" if value is None or math.isnan(value) else f"{value:6.2f}"


def format_hico_table(metrics: dict) -> str:
    """HICO-DET mAP table (percent): Default and Known-Object rows, Full / Rare / Non-Rare columns."""
    cats = metrics["per_category"]
    num_rare = sum(c["rare"] for c in cats)
    lines = [
        f"HICO-DET mAP (%)   {'Full':>6}  {'Rare':>6}  {'Non-Rare':>8}",
        f"Default            {_cell(metrics['mAP_full'])}  {_cell(metrics['mAP_rare'])}  "
        f"{_cell(metrics['mAP_non_rare']):>8}",
        f"Known Object       {_cell(metrics['mAP_full_known_object'])}  {_cell(metrics['mAP_rare_known_object'])}  "
        f"{_cell(metrics['mAP_non_rare_known_object']):>8}",
        f"mean max recall {_cell(metrics['mean_max_recall'])} %  "
        f"({len(cats)} categories: {num_rare} rare, {len(cats) - num_rare} non-rare)",
    ]
    return "\n".join(lines)


def format_vcoco_table(metrics: dict) -> str:
    """V-COCO table (percent): AP_role in both scenarios, per action-role AP, and agent AP."""
    lines = [f"V-COCO (%)              {'Scen. 1':>7}  {'Scen. 2':>7}  {'#pos':>5}"]
    for entry in metrics["per_action_role"]:
        ap1, ap2 = (entry[k] * 100.0 for k in ("ap_scenario1", "ap_scenario2"))
        name = f"{entry['action']}-{entry['role']}"
        lines.append(f"  {name:<21} {_cell(ap1):>7}  {_cell(ap2):>7}  {entry['n_pos']:>5}")
    for label, suffix in (("AP_role (24, paper)", "_24"), ("AP_role (all entries)", "")):
        ap1, ap2 = (metrics[f"AP_role_scenario{s}{suffix}"] for s in (1, 2))
        lines.append(f"{label:<23} {_cell(ap1):>7}  {_cell(ap2):>7}")
    lines.append(f"{'AP_agent':<23} {_cell(metrics['AP_agent']):>7}")
    return "\n".join(lines)


def _json_ready(value):
    """NaN / inf floats -> None (JSON has no NaN); containers converted recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def write_metrics_json(metrics: dict, path: str) -> None:
    """Writes ``metrics`` atomically as JSON; floats keep full precision, NaN becomes null."""
    text = json.dumps(_json_ready(metrics), indent=2, allow_nan=False) + "\n"
    atomic_write(str(path), lambda f: f.write(text))
