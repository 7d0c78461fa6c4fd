"""Benchmarks for mtl_numpy: ``python -m benchmarks [cost|kernels|steps|gpu-cost|all]``.

Scripts that print tables (and, with ``--plot``, draw figures); never run by the test suite.
See ``benchmarks/__main__.py`` for the command line and ``benchmarks/harness.py`` for the shared
timing rules.
"""
