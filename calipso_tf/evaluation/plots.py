"""PNG plots of per-category AP and precision/recall curves (matplotlib Agg, no pyplot state)."""

from __future__ import annotations

import os

import numpy as np

from calipso_tf.fileio import atomic_write


def _save(fig, path: str) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), mode="wb")


def save_ap_bars(names: list[str], aps, path: str, title: str) -> None:
    """Bar chart of APs (fractions) sorted from best to worst; NaN entries are left out."""
    from matplotlib.figure import Figure

    aps = np.asarray(aps, dtype=np.float64)
    order = [i for i in np.argsort(-aps, kind="stable") if not np.isnan(aps[i])]
    fig = Figure(figsize=(max(6.0, 0.18 * len(order)), 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(np.arange(len(order)), aps[order] * 100.0, width=0.8)
    if len(order) <= 80:
        ax.set_xticks(np.arange(len(order)), [names[i] for i in order], rotation=90, fontsize=7)
    ax.set(xlabel="category", ylabel="AP (%)", ylim=(0, 100), title=title)
    _save(fig, path)


def save_pr_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str, title: str) -> None:
    """Precision against recall, one line per named (recall, precision) curve."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for name, (recall, precision) in curves.items():
        ax.plot(recall, precision, label=name, drawstyle="steps-post")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    if curves:
        ax.legend(fontsize=7)
    _save(fig, path)


def save_eval_plots(names: list[str], aps, curves: dict, plots_dir: str, prefix: str, count: int = 5) -> list[str]:
    """``{prefix}_ap.png`` (sorted AP bars) and ``{prefix}_pr_best.png`` / ``_pr_worst.png``.

    Args:
      names: category names, aligned with ``aps``; ``curves`` is keyed by the same names.
      count: number of best and of worst categories drawn in the curve plots.
    """
    aps = np.asarray(aps, dtype=np.float64)
    ranked = [i for i in np.argsort(-aps, kind="stable") if not np.isnan(aps[i]) and names[i] in curves]
    paths = [os.path.join(plots_dir, f"{prefix}_{kind}.png") for kind in ("ap", "pr_best", "pr_worst")]

    def labelled(indices):
        return {f"{names[i]} (AP {aps[i] * 100:.1f})": curves[names[i]] for i in indices}

    save_ap_bars(names, aps, paths[0], f"{prefix}: AP per category")
    save_pr_curves(labelled(ranked[:count]), paths[1], f"{prefix}: best {count} categories")
    save_pr_curves(labelled(ranked[::-1][:count]), paths[2], f"{prefix}: worst {count} categories")
    return paths
