"""The synthetic dataset's verbs and object categories (COCO ids), as written to categories.json."""

VERBS = ({"id": 1, "name": "hold"}, {"id": 2, "name": "look"}, {"id": 3, "name": "hug"}, {"id": 4, "name": "run"})
OBJECTS = ({"id": 1, "name": "person"}, {"id": 37, "name": "sports ball"}, {"id": 47, "name": "cup"},
           {"id": 62, "name": "chair"}, {"id": 84, "name": "book"})
HOLD, LOOK, HUG, RUN = 1, 2, 3, 4
PERSON, BALL, CUP, CHAIR, BOOK = 1, 37, 47, 62, 84
HOLDABLE = (BALL, CUP, BOOK)  # what a person can hold
LOOKABLE = (BALL, CUP, CHAIR, BOOK)  # what a person can look at; also the distractors
