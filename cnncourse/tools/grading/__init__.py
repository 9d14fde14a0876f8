"""Grading a cohort: ``cnncourse grade`` and the parts it runs.

Scope: ``grade`` (the run: where, how many at a time, what is written back),
``worker`` (one grading process), ``gradebook`` (nbgrader's SQLite gradebook),
``report`` (the end-of-run table), ``safe_execute`` (nbgrader's autograde
steps made safe), ``sandbox`` (the kernel's isolation) and ``tamper`` (the
in-kernel guard).
"""
