"""Benchmarks: ``make bench`` runs every ``bench_*.py`` module; results live in docs/BENCHMARKS.md."""
