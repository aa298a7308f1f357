"""Benchmarks run by hand as ``python -m bench.<name>``: they print wall times and judge nothing (not part of ``make test``)."""
