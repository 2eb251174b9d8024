"""Score an existing predictions file: the entry points behind evaluate.py's scoring mode."""

from __future__ import annotations

from calipso_tf.evaluation.hico import NO_OBJECT, evaluate_hico_files
from calipso_tf.evaluation.report import format_hico_table, format_vcoco_table, metrics_dict, write_metrics_json
from calipso_tf.evaluation.vcoco import VcocoMetrics, evaluate_vcoco_files


def score_hico(annotations_path: str, train_annotations_path: str, predictions_path: str, output_path: str,
               plots_dir: str | None = None, max_per_image: int | None = 100,
               verb_names: dict[int, str] | None = None, object_names: dict[int, str] | None = None) -> dict:
    """HICO-DET metrics of a PPDM-layout predictions JSON.

    Prints the table, writes the metrics JSON to ``output_path`` (a file path) and, if
    ``plots_dir`` is given, PNG plots there, categories labelled "verb object" when the
    name tables (dataset ids -> names) are given, else "objectid-verbid". Returns the metrics dict (the
    ``HicoMetrics`` fields but ``curves``, plus ``benchmark`` and ``max_per_image``).
    """
    result = evaluate_hico_files(annotations_path, train_annotations_path, predictions_path, max_per_image)
    metrics = {"benchmark": "hico-det", "max_per_image": max_per_image, **metrics_dict(result)}
    print(format_hico_table(metrics))
    write_metrics_json(metrics, output_path)
    if plots_dir is not None:
        from calipso_tf.evaluation.plots import save_eval_plots

        names = [_hoi_label(o, v, verb_names, object_names) for o, v in result.curves]
        aps = [c["ap"] for c in result.per_category]
        save_eval_plots(names, aps, dict(zip(names, result.curves.values())), plots_dir, "hico")
    return metrics


def _hoi_label(object_id: int, verb_id: int, verb_names: dict | None, object_names: dict | None) -> str:
    if not verb_names or not object_names:
        return f"{object_id}-{verb_id}"
    target = object_names.get(object_id, str(object_id)) if object_id != NO_OBJECT else "(no target)"
    return f"{verb_names.get(verb_id, verb_id)} {target}"


def score_vcoco(vcoco_annotations_path: str, coco_annotations_path: str, split_ids_path: str,
                predictions_path: str, output_path: str, plots_dir: str | None = None) -> dict:
    """V-COCO metrics of an official-layout detections pickle.

    Prints the table, writes the metrics JSON to ``output_path`` (a file path) and, if
    ``plots_dir`` is given, PNG plots (scenario 1 role AP) there. Returns the metrics dict
    (the ``VcocoMetrics`` fields but ``curves``, plus ``benchmark``).
    """
    result = evaluate_vcoco_files(vcoco_annotations_path, coco_annotations_path, split_ids_path, predictions_path)
    return report_vcoco(result, output_path, plots_dir)


def report_vcoco(result: VcocoMetrics, output_path: str, plots_dir: str | None = None) -> dict:
    """`score_vcoco`'s outputs (table, metrics JSON, plots) of an evaluated result; returns the metrics dict."""
    metrics = {"benchmark": "v-coco", **metrics_dict(result)}
    print(format_vcoco_table(metrics))
    write_metrics_json(metrics, output_path)
    if plots_dir is not None:
        from calipso_tf.evaluation.plots import save_eval_plots

        names = [f"{e['action']}-{e['role']}" for e in result.per_action_role]
        aps = [e["ap_scenario1"] for e in result.per_action_role]
        save_eval_plots(names, aps, result.curves, plots_dir, "vcoco")
    return metrics
