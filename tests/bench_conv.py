"""Benchmark of dlmath.layers.conv against PyTorch CPU (``make bench``); not a test, asserts nothing.

In one run on one machine: forward plus backward of conv2d (and the pools) in dlmath and in PyTorch,
the median of several repeats in milliseconds, the ratio dlmath / torch, and the fraction of the
machine's GEMM throughput each reaches (GEMM GFLOP/s measured with a large np.matmul; a convolution's
forward pass costs 2 N C_out H_out W_out (C_in/groups) kH kW flops, its backward twice that).
PyTorch runs with as many threads as NumPy's BLAS. Other processes share the machine: the load average
is printed before and after, and the numbers are only comparable within one run.
Usage: python tests/bench_conv.py [--quick] [--threads N] (N threads for both libraries, via threadpoolctl)
"""
import os
import platform
import statistics
import sys
import time

import numpy as np

from dlmath.layers import conv

QUICK = "--quick" in sys.argv
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else None


def blas_threads():
    """NumPy's BLAS thread count (threadpoolctl when installed, else the CPU count) and the BLAS name."""
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i["user_api"] == "blas"]
        if info:
            return info[0]["num_threads"], f"{info[0]['internal_api']} {info[0].get('version', '')}".strip()
    except ImportError:
        pass
    return os.cpu_count(), "unknown BLAS"


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def gemm_gflops(dtype, n=2048, repeats=5):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    return 2 * n ** 3 / (median_ms(lambda: a @ b, repeats) * 1e-3) / 1e9


# name, op, x shape, weight shape (None for pools), options, forward flops
def conv_flops(x_shape, w_shape, opts):
    n, _, h, w = x_shape
    c_out, cg, kh, kw = w_shape
    p, s = opts.get("padding", 0), opts.get("stride", 1)
    ho, wo = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    return 2 * n * c_out * ho * wo * cg * kh * kw


CASES = [
    ("CIFAR conv 64x32x32x32 -> 64, 3x3, pad 1", "conv2d", (64, 32, 32, 32), (64, 32, 3, 3), dict(padding=1)),
    ("digits conv1 64x1x8x8 -> 16, 3x3, pad 1", "conv2d", (64, 1, 8, 8), (16, 1, 3, 3), dict(padding=1)),
    ("digits conv2 64x16x4x4 -> 32, 3x3, pad 1", "conv2d", (64, 16, 4, 4), (32, 16, 3, 3), dict(padding=1)),
    ("CIFAR max_pool 2x2 on 64x64x32x32", "max_pool2d", (64, 64, 32, 32), None, dict(kernel_size=2)),
    ("CIFAR avg_pool 2x2 on 64x64x32x32", "avg_pool2d", (64, 64, 32, 32), None, dict(kernel_size=2)),
]


def run_case(op, x_shape, w_shape, opts, dtype, torch, repeats):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(dtype)
    fwd, bwd = getattr(conv, op + "_forward"), getattr(conv, op + "_backward")
    if w_shape is not None:
        w, b = rng.standard_normal(w_shape).astype(dtype), rng.standard_normal(w_shape[0]).astype(dtype)
        args, kw = (x, w, b), opts
    else:
        ks = opts["kernel_size"]
        args, kw = (x, ks), {k: v for k, v in opts.items() if k != "kernel_size"}
    out, _ = fwd(*args, **kw)
    g = rng.standard_normal(out.shape).astype(dtype)

    def ours():
        y, cache = fwd(*args, **kw)
        bwd(g, cache)

    time.sleep(0.5)  # let the other library's idle threads stop spinning: they compete for the same cores
    t_ours = median_ms(ours, repeats)
    t_torch = None
    if torch is not None:
        f = getattr(torch.nn.functional, op)
        targs = [torch.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
        tg = torch.tensor(g)

        def theirs():
            for t in targs:
                if hasattr(t, "grad"):
                    t.grad = None
            f(*targs, **kw).backward(tg)

        time.sleep(0.5)
        t_torch = median_ms(theirs, repeats)
    return t_ours, t_torch


def main():
    if THREADS is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(THREADS, user_api="blas")
    threads, blas = blas_threads()
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    load0 = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; NumPy {np.__version__} ({blas}, {threads} threads); "
          + (f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "PyTorch not installed"))
    print(f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} (other processes share the machine)")
    gemm = {dt: gemm_gflops(dt) for dt in (np.float64, np.float32)}
    print(f"GEMM (np.matmul 2048x2048): float64 {gemm[np.float64]:.1f} GFLOP/s, float32 {gemm[np.float32]:.1f} GFLOP/s")
    print()
    head = f"{'layer (forward + backward)':44} {'dtype':8} {'dlmath ms':>10} {'torch ms':>10} {'ratio':>6} " \
           f"{'dlmath %GEMM':>12} {'torch %GEMM':>11}"
    print(head)
    print("-" * len(head))
    for name, op, x_shape, w_shape, opts in CASES:
        flops = 3 * conv_flops(x_shape, w_shape, opts) if w_shape is not None else None
        for dtype in (np.float64, np.float32):
            big = int(np.prod(x_shape)) > 10 ** 6
            repeats = (3 if QUICK else 7) if big else (10 if QUICK else 50)
            t_ours, t_torch = run_case(op, x_shape, w_shape, opts, dtype, torch, repeats)
            pct = lambda t: f"{100 * flops / (t * 1e-3) / (gemm[dtype] * 1e9):.1f}%" if flops and t else "-"
            print(f"{name:44} {np.dtype(dtype).name:8} {t_ours:10.3f} "
                  + (f"{t_torch:10.3f} {t_ours / t_torch:6.2f} " if t_torch else f"{'-':>10} {'-':>6} ")
                  + f"{pct(t_ours):>12} {pct(t_torch):>11}")
    load1 = os.getloadavg()
    print()
    print(f"ratio = dlmath / torch (below 1: dlmath faster). %GEMM: conv flops (3 x forward) per second over the "
          f"GEMM rate. load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
