"""The bad-submission corpus of the grading benchmark and the grader's tests: recipes (JSON) and ``corpus.py``."""
