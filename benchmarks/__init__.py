"""Benchmark suites and reference reports (installed as ``refinet_edge.benchmarks``)."""
