"""Tests of dlmath.optim: trajectories against torch.optim, schedules against torch.optim.lr_scheduler,
closed forms derived by hand, validation, inputs not mutated, hypothesis properties."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath import optim as O

STEPS = 100
RTOL = 1e-10


def least_squares(seed=0, n=12, d=5):
    """A small least-squares problem 0.5/n ||A x - y||^2 with a unique minimizer: (grad_fn, x0)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    x0 = rng.standard_normal(d)
    return (lambda x: A.T @ (A @ x - y) / n), x0


def run_numpy(step_fn, hyper, seed=0, steps=STEPS, sign=1.0):
    grad_fn, x = least_squares(seed)
    state = None
    traj = [x]
    for _ in range(steps):
        x, state = step_fn(x, sign * grad_fn(x), state, **hyper)
        traj.append(x)
    return np.array(traj), state


def run_torch(cls, hyper, seed=0, steps=STEPS, sign=1.0):
    torch = pytest.importorskip("torch")
    grad_fn, x0 = least_squares(seed)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = cls([p], **hyper)
    traj = [x0]
    for _ in range(steps):
        p.grad = torch.tensor(sign * grad_fn(p.detach().numpy()), dtype=torch.float64)
        opt.step()
        traj.append(p.detach().numpy().copy())
    return np.array(traj), opt.state[p]


def rel_diff(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


SGD_CASES = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
             dict(lr=0.1, momentum=0.8, nesterov=True), dict(lr=0.1, weight_decay=0.05),
             dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
             dict(lr=0.05, momentum=0.5, dampening=0.5, weight_decay=0.01, maximize=True)]
ADAGRAD_CASES = [dict(), dict(lr=0.1), dict(lr=0.1, lr_decay=0.01), dict(lr=0.1, weight_decay=0.1),
                 dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6), dict(lr=0.1, lr_decay=0.05, maximize=True)]
RMSPROP_CASES = [dict(), dict(lr=0.01, alpha=0.9), dict(lr=0.01, centered=True), dict(lr=0.005, momentum=0.9),
                 dict(lr=0.005, momentum=0.9, centered=True, weight_decay=0.1), dict(lr=0.01, eps=1e-3, maximize=True)]
ADAM_CASES = [dict(), dict(lr=0.05), dict(lr=0.05, betas=(0.8, 0.99)), dict(lr=0.05, amsgrad=True),
              dict(lr=0.05, weight_decay=0.1), dict(lr=0.05, weight_decay=0.1, amsgrad=True, eps=1e-6),
              dict(lr=0.05, maximize=True)]
ADAMW_CASES = ADAM_CASES[:4] + [dict(lr=0.05, weight_decay=0.5), dict(lr=0.05, weight_decay=0.5, amsgrad=True),
                                dict(lr=0.05, weight_decay=0.1, maximize=True)]


def _torch_cls(name):
    torch = pytest.importorskip("torch")
    return {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
            "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]


ALL = ([("sgd", O.sgd_step, h) for h in SGD_CASES] + [("adagrad", O.adagrad_step, h) for h in ADAGRAD_CASES]
       + [("rmsprop", O.rmsprop_step, h) for h in RMSPROP_CASES] + [("adam", O.adam_step, h) for h in ADAM_CASES]
       + [("adamw", O.adamw_step, h) for h in ADAMW_CASES])


@pytest.mark.parametrize("name,fn,hyper", ALL, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(ALL)])
def test_trajectory_matches_torch(name, fn, hyper):
    torch = pytest.importorskip("torch")
    ours, state = run_numpy(fn, hyper)
    theirs, tstate = run_torch(_torch_cls(name), hyper)
    assert np.allclose(ours, theirs, rtol=RTOL, atol=1e-13), rel_diff(ours, theirs)
    # the state carries torch's names and values
    for k, v in tstate.items():
        assert k in state, k
        tv = v.detach().numpy() if isinstance(v, torch.Tensor) else v
        assert np.allclose(np.asarray(state[k], dtype=float), np.asarray(tv, dtype=float), rtol=RTOL, atol=1e-13), k


def test_trajectories_move():
    """The torch comparisons are not vacuous: every case moves the parameters far from the start."""
    for _, fn, hyper in ALL:
        traj, _ = run_numpy(fn, hyper)
        assert np.linalg.norm(traj[-1] - traj[0]) > 1e-2


def test_state_transfers_to_torch():
    """A state produced here, given to torch mid-run, continues the same trajectory."""
    torch = pytest.importorskip("torch")
    grad_fn, x = least_squares(1)
    state = None
    for _ in range(10):
        x, state = O.adam_step(x, grad_fn(x), state, lr=0.05, amsgrad=True)
    p = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.05, amsgrad=True)
    opt.state[p] = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else torch.tensor(float(v)))
                    for k, v in state.items()}
    for _ in range(10):
        g = grad_fn(x)
        x, state = O.adam_step(x, g, state, lr=0.05, amsgrad=True)
        p.grad = torch.tensor(g)
        opt.step()
    assert np.allclose(x, p.detach().numpy(), rtol=RTOL, atol=1e-13)


# ----------------------------------------------------------------------------- closed forms by hand
def test_sgd_momentum_first_steps_by_hand():
    # u1 = g1 = 1 (no dampening at the first step); p1 = 1 - 0.1 = 0.9;
    # u2 = 0.9 * 1 + (1 - 0.5) * 2 = 1.9; p2 = 0.9 - 0.19 = 0.71
    p, s = O.sgd_step(np.array([1.0]), np.array([1.0]), None, lr=0.1, momentum=0.9, dampening=0.5)
    assert p[0] == pytest.approx(0.9, rel=1e-15) and s["momentum_buffer"][0] == 1.0
    p, s = O.sgd_step(p, np.array([2.0]), s, lr=0.1, momentum=0.9, dampening=0.5)
    assert p[0] == pytest.approx(0.71, rel=1e-14)


def test_textbook_momentum_equals_torch_momentum():
    """s_t = -lr b_t for constant lr and no dampening (eq-optimizers-equivalence)."""
    grad_fn, x0 = least_squares(2)
    lr, beta = 0.1, 0.9
    x, s = x0.copy(), np.zeros_like(x0)
    y, state = x0.copy(), None
    for _ in range(50):
        s = beta * s - lr * grad_fn(x)
        x = x + s
        y, state = O.sgd_step(y, grad_fn(y), state, lr=lr, momentum=beta)
        assert np.allclose(s, -lr * state["momentum_buffer"], rtol=1e-10, atol=1e-14)
    assert np.allclose(x, y, rtol=1e-10, atol=1e-14)


def test_adam_first_step_by_hand():
    # mhat_1 = g, vhat_1 = g^2, so the step is lr g / (|g| + eps)
    g = np.array([3.0, -0.5, 1e-3])
    p, _ = O.adam_step(np.zeros(3), g, None, lr=0.01, eps=1e-8)
    assert np.allclose(p, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14, atol=0)


def test_adagrad_by_hand():
    # G = 0.5 + 4 = 4.5, step 0.1 * 2 / (sqrt(4.5) + 1e-10)
    p, s = O.adagrad_step(np.array([1.0]), np.array([2.0]), {}, lr=0.1, initial_accumulator_value=0.5)
    assert p[0] == pytest.approx(1 - 0.2 / (math.sqrt(4.5) + 1e-10), rel=1e-14) and s["step"] == 1


def test_adamw_decays_independently_of_gradient_scale():
    """Decoupled: zero gradient, the weight shrinks by (1 - lr wd) exactly; Adam's L2 instead moves it by ~lr."""
    p, _ = O.adamw_step(np.array([2.0]), np.array([0.0]), None, lr=0.01, weight_decay=0.1)
    assert p[0] == pytest.approx(2.0 * (1 - 0.001), rel=1e-15)
    p, _ = O.adam_step(np.array([2.0]), np.array([0.0]), None, lr=0.01, weight_decay=0.1)
    assert p[0] == pytest.approx(2.0 - 0.01 * 0.2 / (0.2 + 1e-8), rel=1e-14)


# ------------------------------------------------------------------------------------------- schedules
SCHED = 130


def _torch_schedule(make, steps=SCHED, lr=0.5):
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.mark.parametrize("step_size,gamma", [(10, 0.1), (7, 0.5), (1, 0.9)])
def test_step_lr_matches_torch(step_size, gamma):
    torch = pytest.importorskip("torch")
    theirs = _torch_schedule(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma=gamma))
    ours = np.array([O.step_lr(t, lr=0.5, step_size=step_size, gamma=gamma) for t in range(SCHED)])
    assert np.allclose(ours, theirs, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("T_max,eta_min", [(100, 0.0), (30, 0.01), (7, 0.1)])
def test_cosine_matches_torch_recursion(T_max, eta_min):
    """torch's recursive form equals the closed form, also past T_max (periodic continuation)."""
    torch = pytest.importorskip("torch")
    theirs = _torch_schedule(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max, eta_min=eta_min))
    ours = np.array([O.cosine_annealing_lr(t, lr=0.5, T_max=T_max, eta_min=eta_min) for t in range(SCHED)])
    assert np.allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("start,end,total", [(1 / 3, 1.0, 5), (0.01, 1.0, 40), (1.0, 0.1, 60), (0.5, 0.0, 100)])
def test_linear_lr_matches_torch(start, end, total):
    torch = pytest.importorskip("torch")
    theirs = _torch_schedule(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=start, end_factor=end,
                                                                         total_iters=total))
    ours = np.array([O.linear_lr(t, lr=0.5, start_factor=start, end_factor=end, total_iters=total)
                     for t in range(SCHED)])
    assert np.allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_schedules_by_hand():
    assert O.step_lr(25, lr=1.0, step_size=10, gamma=0.5) == 0.25
    assert O.cosine_annealing_lr(5, lr=1.0, T_max=10) == pytest.approx(0.5, rel=1e-15)
    assert O.cosine_annealing_lr(10, lr=1.0, T_max=10, eta_min=0.1) == pytest.approx(0.1, rel=1e-15)
    assert O.linear_lr(0, lr=1.0, start_factor=0.1, total_iters=4) == pytest.approx(0.1, rel=1e-15)
    assert O.linear_lr(2, lr=1.0, start_factor=0.1, total_iters=4) == pytest.approx(0.55, rel=1e-15)
    assert O.linear_lr(9, lr=1.0, start_factor=0.1, total_iters=4) == 1.0


# ------------------------------------------------------------------------------------------ validation
STEPS_FNS = [O.sgd_step, O.adagrad_step, O.rmsprop_step, O.adam_step, O.adamw_step]


def _kw(fn):
    return {"lr": 0.1} if fn is O.sgd_step else {}


@pytest.mark.parametrize("fn", STEPS_FNS)
def test_shape_mismatch(fn):
    with pytest.raises(ValueError, match=r"shape of param \(3,\), got \(2,\)"):
        fn(np.zeros(3), np.zeros(2), None, **_kw(fn))


@pytest.mark.parametrize("fn", STEPS_FNS)
def test_integer_or_mixed_dtype(fn):
    with pytest.raises(ValueError, match="floating-point"):
        fn(np.zeros(3, dtype=int), np.zeros(3, dtype=int), None, **_kw(fn))
    with pytest.raises(ValueError, match="same dtype"):
        fn(np.zeros(3), np.zeros(3, dtype=np.float32), None, **_kw(fn))


@pytest.mark.parametrize("fn", STEPS_FNS)
def test_bad_state(fn):
    with pytest.raises(ValueError, match="state must be a dict"):
        fn(np.zeros(3), np.zeros(3), [1], **_kw(fn))


def test_bad_state_shape():
    with pytest.raises(ValueError, match=r"state\['exp_avg'\]"):
        O.adam_step(np.zeros(3), np.zeros(3), {"step": 1, "exp_avg": np.zeros(2), "exp_avg_sq": np.zeros(3)})


@pytest.mark.parametrize("fn,kw,match", [
    (O.sgd_step, dict(lr=-0.1), "lr"), (O.sgd_step, dict(lr=0.1, momentum=-1), "momentum"),
    (O.sgd_step, dict(lr=0.1, nesterov=True), "nesterov"),
    (O.sgd_step, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (O.sgd_step, dict(lr=0.1, weight_decay=-1), "weight_decay"), (O.sgd_step, dict(lr=0.1, maximize=1), "maximize"),
    (O.adagrad_step, dict(lr_decay=-1), "lr_decay"), (O.adagrad_step, dict(eps=-1), "eps"),
    (O.adagrad_step, dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    (O.rmsprop_step, dict(alpha=-0.1), "alpha"), (O.rmsprop_step, dict(momentum=-0.1), "momentum"),
    (O.rmsprop_step, dict(centered="yes"), "centered"),
    (O.adam_step, dict(betas=(1.0, 0.999)), r"betas\[0\]"), (O.adam_step, dict(betas=(0.9, -0.1)), r"betas\[1\]"),
    (O.adam_step, dict(betas=0.9), "pair"), (O.adam_step, dict(amsgrad=None), "amsgrad"),
    (O.adamw_step, dict(weight_decay=-0.01), "weight_decay"), (O.adamw_step, dict(lr=float("nan")), "lr"),
])
def test_bad_options(fn, kw, match):
    with pytest.raises(ValueError, match=match):
        fn(np.zeros(3), np.zeros(3), None, **kw)


@pytest.mark.parametrize("call,match", [
    (lambda: O.step_lr(-1, lr=0.1, step_size=2), "step"), (lambda: O.step_lr(1, lr=0.1, step_size=0), "step_size"),
    (lambda: O.step_lr(1, lr=-0.1, step_size=2), "lr"), (lambda: O.step_lr(1.5, lr=0.1, step_size=2), "step"),
    (lambda: O.cosine_annealing_lr(1, lr=0.1, T_max=0), "T_max"),
    (lambda: O.cosine_annealing_lr(1, lr=0.1, T_max=5, eta_min=-1), "eta_min"),
    (lambda: O.linear_lr(1, lr=0.1, start_factor=0.0), "start_factor"),
    (lambda: O.linear_lr(1, lr=0.1, end_factor=1.5), "end_factor"),
    (lambda: O.linear_lr(1, lr=0.1, total_iters=0), "total_iters"),
])
def test_bad_schedule_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------ properties
@pytest.mark.parametrize("fn,kw", [(O.sgd_step, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
                                   (O.adagrad_step, dict(weight_decay=0.1)),
                                   (O.rmsprop_step, dict(momentum=0.5, centered=True)),
                                   (O.adam_step, dict(amsgrad=True, weight_decay=0.1)),
                                   (O.adamw_step, dict(amsgrad=True))])
def test_inputs_not_mutated(fn, kw):
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(4), rng.standard_normal(4)
    _, state = fn(p, g, None, **kw)
    p0, g0 = p.copy(), g.copy()
    s0 = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    new_p, new_state = fn(p, g, state, **kw)
    assert np.array_equal(p, p0) and np.array_equal(g, g0)
    for k, v in s0.items():
        assert np.array_equal(state[k], v)
        assert new_state[k] is not state[k]
    assert new_p is not p


finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).filter(lambda x: abs(x) > 1e-3)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=6), st.floats(1e-4, 1.0), st.floats(0.0, 0.99), st.floats(0.5, 0.9999))
def test_adam_first_step_is_lr_per_coordinate(g, lr, beta1, beta2):
    """eq-optimizers-adam-first: |step| = lr |g| / (|g| + eps), within lr * eps / |g| of lr."""
    g = np.array(g)
    p, _ = O.adam_step(np.ones_like(g), g, None, lr=lr, betas=(beta1, beta2), eps=1e-8)
    step = np.abs(p - 1.0)
    assert np.all(np.abs(step - lr) <= lr * 1e-8 / np.abs(g) + 1e-15)
    assert np.all(np.sign(1.0 - p) == np.sign(g))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=2, max_size=5), st.floats(0.01, 100.0))
def test_adam_invariant_to_gradient_scale(g, c):
    """With eps = 0, Adam's steps do not change when every gradient is multiplied by c > 0."""
    g = np.array(g)
    if np.any(np.abs(g) < 1e-3):
        return
    a, sa = O.adam_step(np.zeros_like(g), g, None, lr=0.1, eps=0.0)
    b, sb = O.adam_step(np.zeros_like(g), c * g, None, lr=0.1, eps=0.0)
    a, _ = O.adam_step(a, 0.5 * g, sa, lr=0.1, eps=0.0)
    b, _ = O.adam_step(b, 0.5 * c * g, sb, lr=0.1, eps=0.0)
    assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(1e-3, 1.0), st.floats(0.0, 1.0))
def test_sgd_weight_decay_is_l2(p, g, lr, wd):
    """Plain SGD: the decay (1 - lr wd) p - lr g equals the step on the L2-penalized gradient."""
    new, _ = O.sgd_step(np.array([p]), np.array([g]), None, lr=lr, weight_decay=wd)
    assert new[0] == pytest.approx((1 - lr * wd) * p - lr * g, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 500), st.integers(1, 100), st.floats(0.0, 0.5))
def test_cosine_bounds_and_period(t, T, eta_min):
    v = O.cosine_annealing_lr(t, lr=1.0, T_max=T, eta_min=eta_min)
    assert eta_min - 1e-15 <= v <= 1.0 + 1e-15
    assert v == pytest.approx(O.cosine_annealing_lr(t + 2 * T, lr=1.0, T_max=T, eta_min=eta_min), rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=5))
def test_maximize_is_minimizing_the_negative(g):
    g = np.array(g)
    for fn, kw in [(O.sgd_step, dict(lr=0.1, momentum=0.9)), (O.adam_step, {}), (O.rmsprop_step, {}),
                   (O.adagrad_step, {}), (O.adamw_step, {})]:
        a, _ = fn(np.ones_like(g), g, None, maximize=True, **kw)
        b, _ = fn(np.ones_like(g), -g, None, **kw)
        assert np.array_equal(a, b)


def test_copyable_alone(tmp_path):
    """optim.py imports only NumPy and the standard library: copied alone, it works without the package."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    src = Path(O.__file__)
    shutil.copy(src, tmp_path / "optim.py")
    code = ("import sys; sys.modules['dlmath'] = None\n"
            "import numpy as np, optim\n"
            "p, s = optim.sgd_step(np.array([1.0]), np.array([1.0]), None, lr=0.1, momentum=0.9)\n"
            "assert abs(p[0] - 0.9) < 1e-15 and s['momentum_buffer'][0] == 1.0\n"
            "p, s = optim.adam_step(np.array([0.0]), np.array([2.0]), None, lr=0.01)\n"
            "assert abs(p[0] + 0.01 * 2 / (2 + 1e-8)) < 1e-15\n"
            "assert optim.step_lr(20, lr=1.0, step_size=10, gamma=0.5) == 0.25\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
