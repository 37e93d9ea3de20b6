"""Benchmark of dlmath.layers.conv (conv2d, max and average pooling) against PyTorch CPU; not a test.

A thin command line over dlmath.book.benchmarks.conv_benchmark_rows (see that module for what is timed
and how): prints the machine, the Markdown table and the load average after the run.
Usage: python tests/bench_conv.py [--small] [--threads N] [--repeats R] [--dtypes float64,float32]
(default: the full size, 1 thread for NumPy's BLAS and for PyTorch, 7 repeats).
"""
import argparse
import os

from dlmath.book import benchmarks


def main(rows_function=benchmarks.conv_benchmark_rows, description=__doc__):
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the small size (the book's table)")
    parser.add_argument("--threads", type=int, default=1, help="threads for BLAS and for torch (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per row; the median is shown")
    parser.add_argument("--dtypes", default="float64,float32", help="comma-separated dtypes")
    args = parser.parse_args()
    with benchmarks.threads_limited(args.threads):
        print("machine:", benchmarks.machine_summary())
    rows = rows_function("small" if args.small else "full", tuple(args.dtypes.split(",")), args.repeats,
                         threads=args.threads)
    print()
    print(benchmarks.rows_to_markdown(rows, spread=True))
    print()
    clock = {"cpu": "CPU time of the process (one thread)", "wall": "wall time"}[rows[0]["clock"]] if rows else "-"
    print(f"ms: median (min-max) of the repeats, {clock}; ratio: of the medians, and of the minima")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other processes share the machine; "
          f"compare only within one run)")


if __name__ == "__main__":
    main()
