"""Tests on booted systemd-nspawn hosts (root only, slow), their lab, and the SSH replay of the program.

A package, so the benchmarks import it as ``tests.hosts`` from the repository root (``python -m bench.<name>``).
"""
