"""Gradient checkpointing for the Tensor engine: keep a segment's input, recompute it (chapter 8).

Reverse mode stores every intermediate value of the forward pass until the backward pass uses it: a
chain of L layers holds L activations. :func:`checkpoint` runs a function without recording its graph,
keeps only its inputs and its output, and runs the function again, recording, when the backward pass
reaches it. :func:`checkpoint_sequential` cuts a chain of L layers into ``segments`` pieces of about
k = L / segments layers and checkpoints every piece but the last, as
``torch.utils.checkpoint.checkpoint_sequential(functions, segments, input)`` does (same argument order).
The graph then holds about L/k segment boundaries plus, while one segment is recomputed, its k
activations: about L/k + k, smallest (about 2 sqrt(L)) for k = sqrt(L), for at most one extra forward
pass (Chen, Xu, Zhang and Guestrin 2016, "Training deep nets with sublinear memory cost").

Parameters used inside a checkpointed function (Tensors it captures, not arguments) receive their
gradients when the segment is recomputed, from an inner backward pass, exactly as in PyTorch; they are
not nodes of the outer graph, so reset their ``grad`` yourself between steps. Needs tensor.py only.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(fn, *inputs):
    """``fn(*inputs)`` (Tensors in, one Tensor out) without storing its graph; recomputed in backward.

    The forward pass runs ``fn`` on constant copies of ``inputs`` and keeps only the output's
    data: the graph ``fn`` builds is dropped when it returns. The returned node's parents are
    ``inputs``; its backward runs ``fn`` again on fresh leaves, calls ``backward`` on that graph
    with the arriving adjoint (so parameters captured by ``fn`` accumulate their gradients) and
    hands the leaves' adjoints to the inputs. The gradients equal those of ``fn(*inputs)`` without
    checkpointing exactly when ``fn`` is deterministic (same operations in the same order).
    Chen et al. 2016; eq-backpropagation-checkpoint counts the memory of checkpoint_sequential.
    """
    if not callable(fn):
        raise ValueError(f"checkpoint needs a function, got {type(fn).__name__}")
    if not all(isinstance(t, Tensor) for t in inputs):
        raise ValueError("the inputs of checkpoint must be Tensors, got "
                         + ", ".join(type(t).__name__ for t in inputs))
    out = fn(*[Tensor(t.data, requires_grad=False) for t in inputs])  # its graph is dropped
    if not isinstance(out, Tensor):
        raise ValueError(f"a checkpointed function must return one Tensor, "
                         f"got {type(out).__name__}")

    def local(g):
        leaves = [Tensor(t.data, requires_grad=t.requires_grad) for t in inputs]
        again = fn(*leaves)                    # the recomputation, recorded this time
        if again.requires_grad:
            again.backward(g)                  # parameters inside fn accumulate here
        return tuple(np.zeros(t.shape) if t.grad is None else t.grad for t in leaves)

    # One node whose parents are the inputs; it needs a gradient if they or fn's parameters do.
    needs = out.requires_grad or any(t.requires_grad for t in inputs)
    return Tensor(out.data, requires_grad=needs, parents=inputs, op="checkpoint", _local=local)


def checkpoint_sequential(functions, segments, x):
    """``functions[-1](...functions[0](x))`` with every segment but the last checkpointed.

    ``functions``: a sequence of L callables Tensor -> Tensor (layers); ``segments``: the number of pieces,
    1 <= segments <= L, each of about k = L / segments consecutive layers (sizes as
    ``torch.utils.checkpoint.checkpoint_sequential``: L // segments each, the remainder in the last).
    Memory: about ``segments`` stored boundaries plus one segment's activations, L/k + k; time: the
    checkpointed layers run twice, at most one extra forward pass (Chen et al. 2016).
    """
    functions = list(functions)
    L = len(functions)
    if L == 0:
        raise ValueError("checkpoint_sequential needs at least one function")
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)) or not 1 <= segments <= L:
        raise ValueError(f"segments must be an integer from 1 to the number of functions {L}, "
                         f"got {segments!r}")
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a Tensor, got {type(x).__name__}")
    size = L // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        piece = functions[start:end + 1]

        def run(h, piece=piece):
            for fn in piece:
                h = fn(h)
            return h

        x = checkpoint(run, x)
    for fn in functions[end + 1:]:               # the last segment is recorded normally
        x = fn(x)
    return x
