"""Optimizer steps and learning-rate schedules as pure functions (chapter 10, Optimizers).

Each optimizer is ``<name>_step(param, grad, state, *, lr, ...) -> (new_param, new_state)``: one step of
``torch.optim.<Name>`` on one parameter array, with PyTorch's option names, defaults and arithmetic, and
PyTorch's state names (``step``, ``momentum_buffer``, ``sum``, ``square_avg``, ``grad_avg``, ``exp_avg``,
``exp_avg_sq``, ``max_exp_avg_sq``), so that a state moves between the two. ``state`` is a dict (``None`` or
``{}`` before the first step); nothing passed in is modified. Every update acts entry by entry.

The schedules ``step_lr``, ``cosine_annealing_lr`` and ``linear_lr`` are the learning rate at step ``step``
(0, 1, 2, ...; the number of ``scheduler.step()`` calls so far) of the ``torch.optim.lr_scheduler`` class of
the same name, in closed form. This file imports only NumPy and the standard library.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "adamw_step",
           "step_lr", "cosine_annealing_lr", "linear_lr"]


def _check(param, grad, state, nonneg=(), unit=(), flags=(), betas=None):
    """Validate one step's inputs; return (param, grad, state) as float arrays and a copied dict.

    ``nonneg``: (name, value) pairs that must be real numbers >= 0; ``unit``: pairs in [0, 1);
    ``flags``: pairs that must be bools; ``betas``: a pair in [0, 1) each.
    """
    param, grad = np.asarray(param), np.asarray(grad)
    if param.shape != grad.shape:
        raise ValueError(f"grad must have the shape of param {param.shape}, got {grad.shape}")
    for name, arr in (("param", param), ("grad", grad)):
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{name} must be a floating-point array, got dtype {arr.dtype}")
    if param.dtype != grad.dtype:
        raise ValueError(f"param and grad must have the same dtype, got {param.dtype} and {grad.dtype}")
    if state is not None and not isinstance(state, dict):
        raise ValueError(f"state must be a dict or None, got {type(state).__name__}")
    for name, v in nonneg:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
            raise ValueError(f"{name} must be a real number >= 0, got {v!r}")
    for name, v in unit:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v < 1:
            raise ValueError(f"{name} must be a real number in [0, 1), got {v!r}")
    for name, v in flags:
        if not isinstance(v, bool):
            raise ValueError(f"{name} must be a bool, got {v!r}")
    if betas is not None:
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for k, b in enumerate(betas):
            if isinstance(b, bool) or not isinstance(b, numbers.Real) or not 0 <= b < 1:
                raise ValueError(f"betas[{k}] must be in [0, 1), got {b!r}")
    state = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in (state or {}).items()}
    for k, v in state.items():
        if isinstance(v, np.ndarray) and v.shape != param.shape:
            raise ValueError(f"state[{k!r}] must have the shape of param {param.shape}, got {v.shape}")
    return param, grad, state


def sgd_step(param, grad, state, *, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0,
             maximize=False):
    """One step of ``torch.optim.SGD``: returns ``(new_param, new_state)``.

    g <- grad (+ weight_decay * param, an L2 penalty); with momentum beta, PyTorch's buffer
    u <- beta u + (1 - dampening) g, u = g at the first step (eq-optimizers-torch-momentum), and
    param <- param - lr u; with nesterov, param <- param - lr (g + beta u) (eq-optimizers-nesterov-torch).
    Polyak (1964); Sutskever et al. (2013).
    """
    param, grad, state = _check(param, grad, state, nonneg=[("lr", lr), ("momentum", momentum),
                                                              ("dampening", dampening), ("weight_decay", weight_decay)],
                                flags=[("nesterov", nesterov), ("maximize", maximize)])
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"nesterov needs momentum > 0 and dampening = 0, got momentum={momentum}, "
                         f"dampening={dampening}")
    g = -grad if maximize else grad  # (...) like param
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        buf = state.get("momentum_buffer")
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
        state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, state


def adagrad_step(param, grad, state, *, lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, maximize=False):
    """One step of ``torch.optim.Adagrad``: returns ``(new_param, new_state)``.

    G <- G + g^2 (G starts at initial_accumulator_value), param <- param - eta_t g / (sqrt(G) + eps) with
    eta_t = lr / (1 + (t - 1) lr_decay) at step t = 1, 2, ... (eq-optimizers-adagrad). Duchi et al. (2011).
    """
    param, grad, state = _check(param, grad, state, nonneg=[("lr", lr), ("lr_decay", lr_decay),
                                                              ("weight_decay", weight_decay), ("eps", eps),
                                                              ("initial_accumulator_value", initial_accumulator_value)],
                                flags=[("maximize", maximize)])
    g = -grad if maximize else grad
    t = state.get("step", 0) + 1
    if weight_decay != 0:
        g = g + weight_decay * param
    acc = state.get("sum", np.full_like(param, initial_accumulator_value)) + g * g  # (...) like param
    clr = lr / (1 + (t - 1) * lr_decay)
    state.update(step=t, sum=acc)
    return param - clr * g / (np.sqrt(acc) + eps), state


def rmsprop_step(param, grad, state, *, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, maximize=False):
    """One step of ``torch.optim.RMSprop``: returns ``(new_param, new_state)``.

    v <- alpha v + (1 - alpha) g^2; centered: gbar <- alpha gbar + (1 - alpha) g and the denominator is
    sqrt(v - gbar^2) + eps, else sqrt(v) + eps (eq-optimizers-rmsprop); with momentum beta the buffer
    u <- beta u + g / denominator and param <- param - lr u. Tieleman and Hinton (2012); Graves (2013).
    """
    param, grad, state = _check(param, grad, state, nonneg=[("lr", lr), ("alpha", alpha), ("eps", eps),
                                                              ("weight_decay", weight_decay), ("momentum", momentum)],
                                flags=[("centered", centered), ("maximize", maximize)])
    g = -grad if maximize else grad
    t = state.get("step", 0) + 1
    if weight_decay != 0:
        g = g + weight_decay * param
    sq = alpha * state.get("square_avg", np.zeros_like(param)) + (1 - alpha) * g * g  # (...) like param
    state.update(step=t, square_avg=sq)
    if centered:
        gbar = alpha * state.get("grad_avg", np.zeros_like(param)) + (1 - alpha) * g
        state["grad_avg"] = gbar
        denom = np.sqrt(sq - gbar * gbar) + eps
    else:
        denom = np.sqrt(sq) + eps
    if momentum > 0:
        buf = momentum * state.get("momentum_buffer", np.zeros_like(param)) + g / denom
        state["momentum_buffer"] = buf
        return param - lr * buf, state
    return param - lr * g / denom, state


def _adam(param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled):
    """The update shared by Adam (L2 penalty in the gradient) and AdamW (decoupled decay of the weights)."""
    beta1, beta2 = betas
    g = -grad if maximize else grad
    t = state.get("step", 0) + 1
    if decoupled:
        param = param * (1 - lr * weight_decay)  # eq-optimizers-adamw
    elif weight_decay != 0:
        g = g + weight_decay * param  # L2: the decay term enters m and v
    m = beta1 * state.get("exp_avg", np.zeros_like(param)) + (1 - beta1) * g  # (...) like param
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - beta2) * g * g
    state.update(step=t, exp_avg=m, exp_avg_sq=v)
    if amsgrad:  # the running maximum of the uncorrected v, corrected afterwards by the current step's factor
        v = np.maximum(state.get("max_exp_avg_sq", np.zeros_like(param)), v)
        state["max_exp_avg_sq"] = v
    denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + eps
    return param - (lr / (1 - beta1**t)) * m / denom, state


def adam_step(param, grad, state, *, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
              maximize=False):
    """One step of ``torch.optim.Adam``: returns ``(new_param, new_state)``.

    m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g^2, param <- param - lr mhat / (sqrt(vhat) + eps)
    with mhat = m / (1 - beta1^t), vhat = v / (1 - beta2^t) (eq-optimizers-adam, eq-optimizers-adam-hat);
    weight_decay adds weight_decay * param to g (an L2 penalty); amsgrad replaces v by its running maximum
    before the bias correction (eq-optimizers-amsgrad). Kingma and Ba (2015); Reddi et al. (2018).
    """
    param, grad, state = _check(param, grad, state, nonneg=[("lr", lr), ("eps", eps), ("weight_decay", weight_decay)],
                                flags=[("amsgrad", amsgrad), ("maximize", maximize)], betas=betas)
    return _adam(param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled=False)


def adamw_step(param, grad, state, *, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False,
               maximize=False):
    """One step of ``torch.optim.AdamW``: returns ``(new_param, new_state)``.

    param <- (1 - lr weight_decay) param first (decoupled weight decay, eq-optimizers-adamw), then the Adam
    step of :func:`adam_step` without any penalty in the gradient. Loshchilov and Hutter (2019).
    """
    param, grad, state = _check(param, grad, state, nonneg=[("lr", lr), ("eps", eps), ("weight_decay", weight_decay)],
                                flags=[("amsgrad", amsgrad), ("maximize", maximize)], betas=betas)
    return _adam(param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled=True)


# ------------------------------------------------------------------------------------------ schedules
def _check_schedule(step, lr, positive_ints=(), nonneg=(), factors=()):
    """Validate a schedule's arguments: step an int >= 0, lr >= 0, the named ints >= 1, factors in range."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr >= 0:
        raise ValueError(f"lr must be a real number >= 0, got {lr!r}")
    for name, v in positive_ints:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    for name, v in nonneg:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
            raise ValueError(f"{name} must be a real number >= 0, got {v!r}")
    for name, v, lo_open in factors:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (0 < v <= 1 if lo_open else 0 <= v <= 1):
            raise ValueError(f"{name} must be in {'(0, 1]' if lo_open else '[0, 1]'}, got {v!r}")


def step_lr(step, *, lr, step_size, gamma=0.1):
    """``StepLR``: lr * gamma ** floor(step / step_size) (eq-optimizers-step-lr)."""
    _check_schedule(step, lr, positive_ints=[("step_size", step_size)], nonneg=[("gamma", gamma)])
    return lr * gamma ** (step // step_size)


def cosine_annealing_lr(step, *, lr, T_max, eta_min=0):
    """``CosineAnnealingLR`` in closed form: eta_min + (lr - eta_min)(1 + cos(pi step / T_max)) / 2.

    eq-optimizers-cosine. PyTorch computes the same values by a recursion (eq-optimizers-cosine-recursive);
    past T_max both continue periodically (period 2 T_max), as PyTorch does. Loshchilov and Hutter (2017).
    """
    _check_schedule(step, lr, positive_ints=[("T_max", T_max)], nonneg=[("eta_min", eta_min)])
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * step / T_max)) / 2


def linear_lr(step, *, lr, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    """``LinearLR``: lr times a factor going linearly from start_factor to end_factor over total_iters steps,
    then constant (eq-optimizers-linear-lr); start_factor < end_factor is a linear warm-up."""
    _check_schedule(step, lr, positive_ints=[("total_iters", total_iters)],
                    factors=[("start_factor", start_factor, True), ("end_factor", end_factor, False)])
    return lr * (start_factor + (end_factor - start_factor) * min(step, total_iters) / total_iters)
