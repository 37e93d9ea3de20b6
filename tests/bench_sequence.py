"""Benchmark of dlmath.layers.recurrent (RNN, LSTM, GRU) and dlmath.layers.attention (scaled dot-product
and multi-head attention) against PyTorch CPU; not a test.

A thin command line over dlmath.book.benchmarks.sequence_benchmark_rows, with the options of
tests/bench_conv.py: python tests/bench_sequence.py [--small] [--threads N] [--repeats R] [--dtypes ...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_conv import main  # noqa: E402

from dlmath.book import benchmarks  # noqa: E402

if __name__ == "__main__":
    main(benchmarks.sequence_benchmark_rows, __doc__)
