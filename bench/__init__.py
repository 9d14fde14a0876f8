"""The course's benchmark suite: how fast ``cnncourse`` trains, against the usual PyTorch loops.

Scope: one command, ``python -m bench`` (see ``bench/README.md``), that runs each
benchmark side by side on this machine and writes ``bench/results.md`` and
``bench/results.png``. Every figure is a ratio of two runs made in the same
process, with the same model, data, seed and number of epochs, timed by a wall
clock outside the code under test and taken as the median of several
interleaved repeats. Nothing in the library or its tests depends on these
timings: ``tests/test_bench.py`` only checks that each benchmark runs end to end.
"""
