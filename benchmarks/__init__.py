"""Benchmarks and baseline harnesses (not part of the installed package)."""
