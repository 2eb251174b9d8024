"""The built-in synthetic HOI dataset.

vocabulary (verbs, categories) -> layout + scenes (what is where) -> render (pixels) ->
generator (files in the HICO-DET JSON layout) -> reader (for ``python -m data_prep``);
prepare: the one call train.py makes (generate, then convert in-process).
"""

from data_prep.synthetic.reader import read_synthetic

__all__ = ["read_synthetic"]
