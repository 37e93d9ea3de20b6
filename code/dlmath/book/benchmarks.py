"""Speed of the reference ops against PyTorch CPU: the tables of ``make bench`` and of the book's
performance sections (chapter 14 runs the small size at build time).

Each row times forward plus backward of one op, in dlmath and in PyTorch, in the same run on the same
machine: the median of ``repeats`` timed calls after one warm-up call (more calls for an op that takes
under a few milliseconds: at least 0.05 s of them), in milliseconds, with the fastest and slowest
call, the ratio dlmath / torch of the medians (below 1: dlmath is faster) and of the fastest calls (the
least disturbed by other processes) and, for the ops that are matrix products at heart, the fraction
of the machine's GEMM throughput each reaches. That throughput is measured in the same run by ``np.matmul``
of a comparable size (the op's own largest product: for a convolution the im2col product
(C_out, C_in kH kW) @ (C_in kH kW, N H_out W_out)), and the op's flop count is three times its forward
pass's multiply-adds times two (forward, then the two products of the backward pass).
NumPy's BLAS and PyTorch run with the same number of threads, ``threads`` (1 by default: on a shared
machine several threads per library spin against each other and the timings scatter; None keeps BLAS's
count and gives it to torch). With one thread the calls of the two libraries alternate, so that a change
in the machine's load falls on both; with more, each library runs its calls in a block after a pause.
The clock: with one thread, the CPU time of this process (``time.process_time``), which the other
processes of a shared machine do not inflate by taking the core away (they still slow it down through the
caches); with more threads, wall time (``time.perf_counter``: CPU time would add up the threads). Each row
says which, under "clock".
Other processes may share the machine: ``machine_summary`` prints the load average; compare only within one
run. Without PyTorch the torch columns read "not installed". Benchmarks are not tests: nothing here
asserts a time.
"""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time

import numpy as np

from dlmath.layers import attention, conv, recurrent

__all__ = ["conv_benchmark_rows", "sequence_benchmark_rows", "rows_to_markdown", "machine_summary",
           "gemm_gflops", "threads_limited"]

_SIZES = ("small", "full")


# ------------------------------------------------------------------------------------------- machinery
def _torch():
    """The torch module, or None when it cannot be imported."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _blas():
    """(threads, name) of NumPy's BLAS, from threadpoolctl when installed (else the CPU count, 'BLAS')."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1, "BLAS"
    info = [i for i in threadpool_info() if i["user_api"] == "blas"]
    if not info:
        return os.cpu_count() or 1, "BLAS"
    return info[0]["num_threads"], f"{info[0]['internal_api']} {info[0].get('version', '')}".strip()


@contextlib.contextmanager
def threads_limited(threads=1):
    """Within the block, NumPy's BLAS (through threadpoolctl) and PyTorch use ``threads`` threads each;
    both are restored after it. ``threads`` None: torch gets BLAS's count. Yields the count in force.
    Without threadpoolctl BLAS keeps its count, and torch is given that count."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be None or a positive int, got {threads!r}")
    torch = _torch()
    before = torch.get_num_threads() if torch is not None else None
    with contextlib.ExitStack() as stack:
        if threads is not None:
            try:
                from threadpoolctl import threadpool_limits
                stack.enter_context(threadpool_limits(threads, user_api="blas"))
            except ImportError:
                pass
        count = _blas()[0]
        if torch is not None:
            torch.set_num_threads(count)
        try:
            yield count
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def machine_summary():
    """One line: CPU count, NumPy and its BLAS with its threads, PyTorch and its threads, the load average."""
    threads, blas = _blas()
    torch = _torch()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"{platform.machine()}, {os.cpu_count()} CPUs; NumPy {np.__version__} ({blas}, {threads} threads); "
            + (f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)" if torch is not None
               else "PyTorch not installed")
            + f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _clock():
    """(clock, name): time.process_time ("cpu") when BLAS runs one thread and that clock resolves a
    microsecond, else time.perf_counter ("wall")."""
    if _blas()[0] == 1 and time.get_clock_info("process_time").resolution <= 1e-6:
        return time.process_time, "cpu"
    return time.perf_counter, "wall"


def _times_ms(fn, repeats, min_seconds=0.05, max_repeats=200, clock=time.perf_counter):
    """Milliseconds (by ``clock``) of calls of fn after one warm-up call: ``repeats`` calls, more for a fast
    fn (until min_seconds of wall time have passed, at most max_repeats), so that the median of a
    sub-millisecond op is not one unlucky time slice of a shared machine."""
    fn()
    out = []
    start = time.perf_counter()
    while len(out) < repeats or (time.perf_counter() - start < min_seconds and len(out) < max_repeats):
        t0 = clock()
        fn()
        out.append(1e3 * (clock() - t0))
    return out


def _times_ms_alternating(ours, theirs, repeats, min_seconds=0.1, max_repeats=200, clock=time.perf_counter):
    """Milliseconds (by ``clock``) of calls of ours and theirs, alternated (ours, theirs, ours, ...) after a
    warm-up call of each: at least ``repeats`` pairs, more for fast calls (as in _times_ms)."""
    ours()
    theirs()
    a, b = [], []
    start = time.perf_counter()
    while len(a) < repeats or (time.perf_counter() - start < min_seconds and len(a) < max_repeats):
        for fn, out in ((ours, a), (theirs, b)):
            t0 = clock()
            fn()
            out.append(1e3 * (clock() - t0))
    return a, b


def gemm_gflops(m, k, n, dtype, repeats=5, clock=time.perf_counter):
    """GFLOP/s of np.matmul of (m, k) @ (k, n) in dtype (2 m k n flops), the median of repeats timed by clock."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    return 2.0 * m * k * n / (statistics.median(_times_ms(lambda: a @ b, repeats, clock=clock)) * 1e-3) / 1e9


def _row(layer, dtype, ours, theirs, repeats, flops=None, gemm_shape=None):
    """Time ours() and theirs() (None: torch missing) and build one row."""
    clock, clock_name = _clock()
    if theirs is None:
        t_ours, t_torch = _times_ms(ours, repeats, clock=clock), None
    elif clock_name == "cpu":  # one thread each: alternate the calls, so that both see the same load
        t_ours, t_torch = _times_ms_alternating(ours, theirs, repeats, clock=clock)
    else:  # idle BLAS/OpenMP threads spin a while after a call and steal cores: one library at a time
        time.sleep(0.2)
        t_ours = _times_ms(ours, repeats, clock=clock)
        time.sleep(0.2)
        t_torch = _times_ms(theirs, repeats, clock=clock)
    gemm = gemm_gflops(*gemm_shape, dtype, repeats, clock=clock) if gemm_shape is not None else None
    med = statistics.median(t_ours)
    med_t = statistics.median(t_torch) if t_torch is not None else None

    def frac(t):
        return flops / (t * 1e-3) / (gemm * 1e9) if (flops and gemm and t) else None

    return {"layer": layer, "dtype": np.dtype(dtype).name,
            "dlmath_ms": med, "dlmath_ms_range": (min(t_ours), max(t_ours)),
            "torch_ms": med_t, "torch_ms_range": (min(t_torch), max(t_torch)) if t_torch else None,
            "ratio": med / med_t if med_t else None,
            "ratio_of_minima": min(t_ours) / min(t_torch) if t_torch else None,
            "gflop": flops / 1e9 if flops else None, "gemm_gflops": gemm,
            "dlmath_gemm_fraction": frac(med), "torch_gemm_fraction": frac(med_t) if med_t else None,
            "repeats": (len(t_ours), len(t_torch) if t_torch else 0), "clock": clock_name}


def _check_args(size, dtypes, repeats):
    if size not in _SIZES:
        raise ValueError(f"size must be one of {_SIZES}, got {size!r}")
    dtypes = tuple(np.dtype(d) for d in dtypes)
    if not dtypes or any(d.kind != "f" for d in dtypes):
        raise ValueError(f"dtypes must be floating-point dtypes, got {dtypes!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    return dtypes


# ------------------------------------------------------------------------------------------ convolution
def _conv_cases(size):
    """(layer, op, x shape, weight shape or None, options). Batch 64 at full size, 8 at small size."""
    n = 64 if size == "full" else 8
    hw = 32 if size == "full" else 16
    return [
        (f"conv2d {n}x32x{hw}x{hw} -> 64, 3x3, pad 1 (CIFAR)", "conv2d", (n, 32, hw, hw), (64, 32, 3, 3),
         {"padding": 1}),
        ("conv2d 64x1x8x8 -> 16, 3x3, pad 1 (digits conv1)", "conv2d", (64, 1, 8, 8), (16, 1, 3, 3),
         {"padding": 1}),
        ("conv2d 64x16x8x8 -> 32, 3x3, pad 1 (digits conv2)", "conv2d", (64, 16, 8, 8), (32, 16, 3, 3),
         {"padding": 1}),
        ("conv2d 64x32x4x4 -> 32, 3x3, pad 1 (digits conv3)", "conv2d", (64, 32, 4, 4), (32, 32, 3, 3),
         {"padding": 1}),
        (f"max_pool2d 2x2 on {n}x64x{hw}x{hw}", "max_pool2d", (n, 64, hw, hw), None, {"kernel_size": 2}),
        (f"avg_pool2d 2x2 on {n}x64x{hw}x{hw}", "avg_pool2d", (n, 64, hw, hw), None, {"kernel_size": 2}),
        ("max_pool2d 2x2 on 64x32x8x8 (digits pool2)", "max_pool2d", (64, 32, 8, 8), None, {"kernel_size": 2}),
        ("max_pool2d 2x2 on 64x32x4x4 (digits pool3)", "max_pool2d", (64, 32, 4, 4), None, {"kernel_size": 2}),
        (f"max_pool2d 3x3, stride 2, pad 1 on {n}x64x{hw}x{hw}", "max_pool2d", (n, 64, hw, hw), None,
         {"kernel_size": 3, "stride": 2, "padding": 1}),
    ]


def conv_benchmark_rows(size="small", dtypes=("float64", "float32"), repeats=5, *, threads=1):
    """Rows (dicts) of conv2d and pooling, forward plus backward, dlmath against torch (see the module).

    size "full": the CIFAR-sized layer (batch 64, 32 -> 64 channels, 3x3, 32x32, padding 1), the layers of
    the digits CNN of dlmath.models.cnn (batch 64, 8x8 inputs, 1 -> 16 -> 32 -> 32 channels, 2x2 max pools
    after the last two) and poolings; "small": the same with batch 8 and
    16x16 images where the full size is large (a few seconds in all on one core)."""
    dtypes = _check_args(size, dtypes, repeats)
    torch = _torch()
    with threads_limited(threads):
        return [_conv_row(layer, op, x_shape, w_shape, opts, dtype, torch, repeats)
                for layer, op, x_shape, w_shape, opts in _conv_cases(size) for dtype in dtypes]


def _conv_row(layer, op, x_shape, w_shape, opts, dtype, torch, repeats):
    """One row of conv_benchmark_rows."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(dtype)
    fwd, bwd = getattr(conv, op + "_forward"), getattr(conv, op + "_backward")
    if w_shape is not None:
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        args, kw = (x, w, b), dict(opts)
    else:
        args, kw = (x, opts["kernel_size"]), {k: v for k, v in opts.items() if k != "kernel_size"}
    out, _ = fwd(*args, **kw)
    g = rng.standard_normal(out.shape).astype(dtype)

    def ours():
        bwd(g, fwd(*args, **kw)[1])

    theirs = None
    if torch is not None:
        f = getattr(torch.nn.functional, op)
        targs = [torch.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
        tg = torch.tensor(g)

        def theirs():
            for t in targs:
                if hasattr(t, "grad"):
                    t.grad = None
            f(*targs, **kw).backward(tg)

    flops = gemm_shape = None
    if w_shape is not None:
        c_out, cg, kh, kw_ = w_shape
        k, cols = cg * kh * kw_, out.shape[0] * out.shape[2] * out.shape[3]
        flops, gemm_shape = 3 * 2 * c_out * k * cols, (c_out, k, cols)
    return _row(layer, dtype, ours, theirs, repeats, flops, gemm_shape)


# ------------------------------------------------------------------------------------- sequence models
def _sequence_sizes(size):
    if size == "full":
        return {"T": 50, "N": 32, "I": 64, "H": 128, "sdpa": (8, 8, 128, 64), "mha": (8, 128, 256, 8)}
    return {"T": 20, "N": 16, "I": 32, "H": 64, "sdpa": (4, 4, 64, 32), "mha": (4, 64, 128, 4)}


def _recurrent_case(kind, s, dtype, torch, rng):
    """(layer, ours, theirs, flops, gemm shape) of one RNN/LSTM/GRU layer with biases and given h0 (c0)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    t, n, i, h = s["T"], s["N"], s["I"], s["H"]
    x = rng.standard_normal((t, n, i)).astype(dtype)
    w_ih = (rng.standard_normal((gates * h, i)) / np.sqrt(i)).astype(dtype)
    w_hh = (rng.standard_normal((gates * h, h)) / np.sqrt(h)).astype(dtype)
    b_ih, b_hh = (0.1 * rng.standard_normal((2, gates * h))).astype(dtype)
    h0 = rng.standard_normal((n, h)).astype(dtype)
    c0 = rng.standard_normal((n, h)).astype(dtype)
    g = rng.standard_normal((t, n, h)).astype(dtype)
    if kind == "lstm":
        def ours():
            out, _, cache = recurrent.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
            recurrent.lstm_backward(g, None, None, cache)
    else:
        fwd, bwd = getattr(recurrent, kind + "_forward"), getattr(recurrent, kind + "_backward")

        def ours():
            out, _, cache = fwd(x, h0, w_ih, w_hh, b_ih, b_hh)
            bwd(g, None, cache)
    theirs = None
    if torch is not None:
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        tdtype = getattr(torch, np.dtype(dtype).name)
        mod = cls(i, h, dtype=tdtype)
        with torch.no_grad():
            for p, a in zip((mod.weight_ih_l0, mod.weight_hh_l0, mod.bias_ih_l0, mod.bias_hh_l0),
                            (w_ih, w_hh, b_ih, b_hh)):
                p.copy_(torch.from_numpy(a))
        tx = torch.tensor(x, requires_grad=True)
        th0 = torch.tensor(h0[None], requires_grad=True)  # (layers, N, H)
        tc0 = torch.tensor(c0[None], requires_grad=True)
        tg = torch.tensor(g)
        state = (th0, tc0) if kind == "lstm" else th0

        def theirs():
            mod.zero_grad(set_to_none=True)
            tx.grad = th0.grad = tc0.grad = None
            mod(tx, state)[0].backward(tg)
    # forward multiply-adds: both projections of all steps; backward twice that
    flops = 3 * 2 * t * n * (i + h) * gates * h
    return f"{kind.upper()} T={t}, N={n}, I={i}, H={h}", ours, theirs, flops, (t * n, i + h, gates * h)


def _sdpa_case(s, dtype, torch, rng):
    n, heads, length, e = s["sdpa"]
    q, k, v = (rng.standard_normal((n, heads, length, e)).astype(dtype) for _ in range(3))
    g = rng.standard_normal((n, heads, length, e)).astype(dtype)

    def ours():
        _, cache = attention.scaled_dot_product_attention_forward(q, k, v, is_causal=True)
        attention.scaled_dot_product_attention_backward(g, cache)

    theirs = None
    if torch is not None:
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        tg = torch.tensor(g)

        def theirs():
            tq.grad = tk.grad = tv.grad = None
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True).backward(tg)
    flops = 3 * 2 * 2 * n * heads * length * length * e  # Q K^T and P V, forward; the backward twice
    return (f"causal attention N={n}, heads={heads}, L={length}, E={e}", ours, theirs, flops,
            (length, e, n * heads * length))


def _mha_case(s, dtype, torch, rng):
    n, length, e, heads = s["mha"]
    x = rng.standard_normal((n, length, e)).astype(dtype)
    w_in = (rng.standard_normal((3 * e, e)) / np.sqrt(e)).astype(dtype)
    b_in = (0.1 * rng.standard_normal(3 * e)).astype(dtype)
    w_out = (rng.standard_normal((e, e)) / np.sqrt(e)).astype(dtype)
    b_out = (0.1 * rng.standard_normal(e)).astype(dtype)
    g = rng.standard_normal((n, length, e)).astype(dtype)

    def ours():
        _, _, cache = attention.multi_head_attention_forward(x, x, x, heads, w_in, b_in, w_out, b_out,
                                                             need_weights=False)
        attention.multi_head_attention_backward(g, cache)

    theirs = None
    if torch is not None:
        mod = torch.nn.MultiheadAttention(e, heads, batch_first=True, dtype=getattr(torch, np.dtype(dtype).name))
        with torch.no_grad():
            for p, a in zip((mod.in_proj_weight, mod.in_proj_bias, mod.out_proj.weight, mod.out_proj.bias),
                            (w_in, b_in, w_out, b_out)):
                p.copy_(torch.from_numpy(a))
        tx = torch.tensor(x, requires_grad=True)
        tg = torch.tensor(g)

        def theirs():
            mod.zero_grad(set_to_none=True)
            tx.grad = None
            mod(tx, tx, tx, need_weights=False)[0].backward(tg)
    d = e // heads
    flops = 3 * 2 * (4 * n * length * e * e + 2 * n * heads * length * length * d)
    return (f"multi-head attention N={n}, L={length}, E={e}, heads={heads}", ours, theirs, flops,
            (n * length, e, 3 * e))


def sequence_benchmark_rows(size="small", dtypes=("float64", "float32"), repeats=5, *, threads=1):
    """Rows (dicts) of the RNN, LSTM and GRU layers, scaled dot-product attention (causal) and multi-head
    self-attention, forward plus backward, dlmath against torch (nn.RNN/LSTM/GRU with copied weights,
    F.scaled_dot_product_attention, nn.MultiheadAttention). size "full": T = 50, N = 32, I = 64, H = 128;
    attention N = 8, 8 heads, L = 128, E = 64 per head; "small": a few seconds on one core."""
    dtypes = _check_args(size, dtypes, repeats)
    torch = _torch()
    s = _sequence_sizes(size)
    with threads_limited(threads):
        return [_sequence_row(case, s, dtype, torch, repeats)
                for case in ("rnn", "lstm", "gru", "sdpa", "mha") for dtype in dtypes]


def _sequence_row(case, s, dtype, torch, repeats):
    """One row of sequence_benchmark_rows."""
    rng = np.random.default_rng(2)
    if case == "sdpa":
        layer, ours, theirs, flops, shape = _sdpa_case(s, dtype, torch, rng)
    elif case == "mha":
        layer, ours, theirs, flops, shape = _mha_case(s, dtype, torch, rng)
    else:
        layer, ours, theirs, flops, shape = _recurrent_case(case, s, dtype, torch, rng)
    return _row(layer, dtype, ours, theirs, repeats, flops, shape)


# ---------------------------------------------------------------------------------------------- tables
def rows_to_markdown(rows, *, spread=False):
    """A Markdown table of rows: layer, dtype, dlmath ms, torch ms ("not installed" without torch),
    the ratio of the medians and of the minima (the minimum is the time least disturbed by other
    processes), and each library's fraction of the GEMM throughput ("-" where an op has no GEMM).
    spread: the times as "median (min-max)"."""
    def pct(f):
        return "-" if f is None else f"{100 * f:.0f}%"

    def num(t):
        return f"{t:.0f}" if t >= 100 else f"{t:.3g}"

    def ms(med, rng):
        return num(med) + (f" ({num(rng[0])}-{num(rng[1])})" if spread else "")

    lines = ["| layer (forward + backward) | dtype | dlmath ms | torch ms | dlmath / torch | ratio of minima "
             "| dlmath % GEMM | torch % GEMM |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        missing = r["torch_ms"] is None
        torch_ms = "not installed" if missing else ms(r["torch_ms"], r["torch_ms_range"])
        ratio = "not installed" if missing else f"{r['ratio']:.2f}"
        ratio_min = "not installed" if missing else f"{r['ratio_of_minima']:.2f}"
        torch_pct = "not installed" if missing else pct(r["torch_gemm_fraction"])
        lines.append(f"| {r['layer']} | {r['dtype']} | {ms(r['dlmath_ms'], r['dlmath_ms_range'])} | {torch_ms} "
                     f"| {ratio} | {ratio_min} | {pct(r['dlmath_gemm_fraction'])} | {torch_pct} |")
    return "\n".join(lines)
