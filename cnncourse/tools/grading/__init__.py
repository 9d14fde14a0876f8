"""Grading a cohort: ``cnncourse grade`` and the parts it runs.

Scope: ``grade`` (the run: what is graded, how many at a time, what is written
back), ``submission`` (one submission's grading folder, the worker pool),
``worker`` (one grading process), ``gradebook`` (nbgrader's SQLite gradebook),
``report`` (the end-of-run table), ``safe_execute`` (nbgrader's autograde
steps made safe), ``sandbox`` (the kernel's isolation, the grader's side),
``kernel`` (the sandboxed kernel's own process), ``tamper`` (the in-kernel
guard), ``job`` (one submission's grading as bytes: pack, run, apply) and
``cluster`` (those jobs on a Dask cluster).
"""
