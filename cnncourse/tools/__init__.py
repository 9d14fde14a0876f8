"""The instructor tools: everything behind the ``cnncourse`` command.

Scope: the command line (``cli``, ``invocation`` for the commands it prints), ``doctor``, ``fetch``, ``release`` (nbgrader's
generate step), ``feedback`` (the feedback scrubber), ``compare`` (a notebook
against its release version), ``check``, ``grading`` (autograde a cohort:
sandbox, tamper guard, gradebook, report) and ``site`` (the lectures as
static HTML). These modules import the student library (``cnncourse.*``);
the library never imports them, and no notebook does.
"""
