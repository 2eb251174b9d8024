"""Shared command-line helpers for the absl scripts."""

from __future__ import annotations


from absl import flags




def normalize_flag_names(argv: list[str]) -> list[str]:
    """Lets users type ``--train-annotations`` for the absl flag ``train_annotations``."""
    out = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out):])
            break
        if arg.startswith("-") and "-" in arg.lstrip("-").split("=", 1)[0]:
            name, eq, value = arg.partition("=")
            dashes = len(name) - len(name.lstrip("-"))
            arg = name[:dashes] + name[dashes:].replace("-", "_") + eq + value
        out.append(arg)
    return out


def parse_flags(argv: list[str]) -> list[str]:
    """absl ``flags_parser`` accepting dashed flag names."""
    return flags.FLAGS(normalize_flag_names(argv))
