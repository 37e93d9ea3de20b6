"""Every file of dlmath/layers/ and dlmath/autograd/ works when a reader copies it alone.

Each file is copied into an empty temporary folder and used in a fresh Python process whose working
directory is that folder: the module is imported by its file name (``import activations``), the package
``dlmath`` is made unimportable there (so a stray ``from dlmath ...`` fails even though the package is
installed), and a small computation is checked against a value derived by hand. The ``__init__.py``
files are package glue, not reference code: they are checked by copying the folder as a whole.
"""
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "code" / "dlmath"
FOLDERS = ("layers", "autograd")

# Run first in each subprocess: importing dlmath (or anything inside it) raises ImportError.
BLOCK_DLMATH = "import sys; sys.modules['dlmath'] = None\n"

# A small use of each file, with expected values computed by hand (comments give the arithmetic).
USES = {
    "layers/activations.py": """
        import math
        import numpy as np
        import activations as A
        x = np.array([-1.0, 0.0, 2.0])
        g = np.array([1.0, 2.0, 3.0])
        out, cache = A.relu_forward(x)
        assert out.tolist() == [0.0, 0.0, 2.0] and A.relu_backward(g, cache).tolist() == [0.0, 0.0, 3.0]
        out, cache = A.sigmoid_forward(np.array([0.0]))
        assert out[0] == 0.5 and A.sigmoid_backward(np.array([1.0]), cache)[0] == 0.25
        out, cache = A.gelu_forward(np.array([1.0]))
        assert abs(out[0] - 0.5 * (1 + math.erf(1 / math.sqrt(2)))) < 1e-15
        for name in A.__all__:
            if name.endswith("_forward"):
                y, c = getattr(A, name)(x)
                assert getattr(A, name[:-len("_forward")] + "_backward")(g, c).shape == (3,)
    """,
    "layers/attention.py": """
        import numpy as np
        import attention as A
        q, k = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])  # equal scores: weights 1/2, 1/2
        v = np.array([[2.0], [4.0]])
        out, cache = A.scaled_dot_product_attention_forward(q, k, v)
        assert out.tolist() == [[3.0], [3.0]]
        out, _ = A.scaled_dot_product_attention_forward(q, k, v, is_causal=True)  # row 0 sees key 0 only
        assert out.tolist() == [[2.0], [3.0]]
        out, _ = A.scaled_dot_product_attention_forward(q, k, v, attn_mask=np.array([[False, False], [True, True]]))
        assert out.tolist() == [[0.0], [3.0]]  # a fully masked row gives zeros, as torch
        dq, dk, dv = A.scaled_dot_product_attention_backward(np.ones((2, 1)), cache)
        assert dv.tolist() == [[1.0], [1.0]] and dq.tolist() == [[0.0], [0.0]]  # dV = P^T 1; dP rows equal
    """,
    "layers/conv.py": """
        import numpy as np
        import conv
        x = np.arange(9.0).reshape(1, 1, 3, 3)  # [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
        out, cache = conv.conv2d_forward(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
        assert out.tolist() == [[[[8.5, 12.5], [20.5, 24.5]]]]  # 0+1+3+4 + 0.5, 1+2+4+5 + 0.5, ...
        gx, gw, gb = conv.conv2d_backward(np.ones((1, 1, 2, 2)), cache)
        assert gx.tolist() == [[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]  # windows covering each pixel
        assert gw.tolist() == [[[[8.0, 12.0], [20.0, 24.0]]]] and gb.tolist() == [4.0]
        out, cache = conv.max_pool2d_forward(x, 2, stride=1)
        assert out.tolist() == [[[[4.0, 5.0], [7.0, 8.0]]]]
        out, cache = conv.avg_pool2d_forward(x, 3)
        assert out.tolist() == [[[[4.0]]]]  # 36 / 9
        y, cache = conv.conv_transpose2d_forward(np.ones((1, 1, 1, 1)), np.arange(4.0).reshape(1, 1, 2, 2))
        assert y.tolist() == [[[[0.0, 1.0], [2.0, 3.0]]]]
    """,
    "layers/positional.py": """
        import math
        import numpy as np
        import positional as P
        pe = P.sinusoidal_positional_encoding(2, 4)  # w = (1, 1/100): row t = (sin t, cos t, sin t/100, cos t/100)
        assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0]
        assert abs(pe[1, 0] - math.sin(1.0)) < 1e-15 and abs(pe[1, 3] - math.cos(0.01)) < 1e-15
        x = np.array([[1.0, 0.0], [1.0, 0.0]])  # positions 0 and 1, D = 2: rotation by 0 and by 1 radian
        out, cache = P.rotary_forward(x)
        assert out[0].tolist() == [1.0, 0.0] and abs(out[1, 0] - math.cos(1.0)) < 1e-15 and abs(out[1, 1] - math.sin(1.0)) < 1e-15
        assert np.allclose(P.rotary_backward(out, cache), x)  # the inverse rotation
    """,
    "layers/recurrent.py": """
        import math
        import numpy as np
        import recurrent as R
        x, w_ih, w_hh, h0 = np.array([[[2.0]], [[-1.0]]]), np.array([[3.0]]), np.array([[0.5]]), np.array([[1.0]])
        out, h, cache = R.rnn_forward(x, h0, w_ih, w_hh, nonlinearity="relu")
        assert out.tolist() == [[[6.5]], [[0.25]]] and h.tolist() == [[0.25]]  # 3*2 + 0.5*1; 3*(-1) + 0.5*6.5
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = R.rnn_backward(np.ones((2, 1, 1)), None, cache)
        # da_2 = 1, da_1 = 1 + 0.5*1 = 1.5: dx = 3 da, dh0 = 0.5 da_1, dW_ih = 1.5*2 + 1*(-1), dW_hh = 1.5*1 + 1*6.5
        assert dx.tolist() == [[[4.5]], [[3.0]]] and dh0.tolist() == [[0.75]] and dw_ih.tolist() == [[2.0]]
        assert dw_hh.tolist() == [[8.0]] and db_ih is None and db_hh is None
        z4, z3 = np.zeros((4, 1)), np.zeros((3, 1))  # zero weights: sigmoid gates 1/2, tanh candidates 0
        out, (h, c), _ = R.lstm_forward(np.zeros((1, 1, 1)), None, np.array([[2.0]]), z4, z4)
        assert abs(c[0, 0] - 1.0) < 1e-15 and abs(h[0, 0] - 0.5 * math.tanh(1.0)) < 1e-15  # c = 2/2, h = tanh(c)/2
        out, h, _ = R.gru_forward(np.zeros((2, 1, 1)), np.array([[4.0]]), z3, z3)
        assert np.allclose(out.ravel(), [2.0, 1.0], rtol=1e-15, atol=0)  # h' = (1 - 1/2) 0 + (1/2) h
    """,
    "layers/dropout.py": """
        import numpy as np
        import dropout as D
        rng = np.random.default_rng(0)
        x = np.array([1.0, -2.0, 3.0, 4.0])
        out, cache = D.dropout_forward(x, p=0.5, rng=rng)
        assert set(np.unique(out / x).tolist()) <= {0.0, 2.0}  # kept entries scaled by 1/(1 - 0.5)
        assert D.dropout_backward(np.ones(4), cache).tolist() == (out / x).tolist()
        assert D.dropout_forward(x, p=0.5, training=False, rng=rng)[0].tolist() == x.tolist()
    """,
    "layers/linear.py": """
        import numpy as np
        import linear
        x = np.array([[1.0, 2.0]])
        w = np.array([[3.0, 4.0], [5.0, 6.0]])
        out, cache = linear.linear_forward(x, w, np.array([0.5, -0.5]))
        assert out.tolist() == [[11.5, 16.5]]  # 1*3 + 2*4 + 0.5, 1*5 + 2*6 - 0.5
        gx, gw, gb = linear.linear_backward(np.array([[1.0, -1.0]]), cache)
        assert gx.tolist() == [[-2.0, -2.0]] and gw.tolist() == [[1.0, 2.0], [-1.0, -2.0]] and gb.tolist() == [1.0, -1.0]
    """,
    "layers/losses.py": """
        import math
        import numpy as np
        import losses as L
        assert abs(L.logsumexp(np.array([0.0, 0.0])) - math.log(2.0)) < 1e-15
        loss, cache = L.cross_entropy_forward(np.array([[0.0, 0.0]]), np.array([1]))
        assert abs(loss - math.log(2.0)) < 1e-15 and L.cross_entropy_backward(1.0, cache).tolist() == [[0.5, -0.5]]
        loss, cache = L.mse_loss_forward(np.array([1.0, 3.0]), np.array([0.0, 0.0]), reduction="sum")
        assert loss == 10.0 and L.mse_loss_backward(1.0, cache).tolist() == [2.0, 6.0]
        loss, cache = L.binary_cross_entropy_with_logits_forward(np.array([0.0]), np.array([1.0]))
        assert abs(loss - math.log(2.0)) < 1e-15 and L.binary_cross_entropy_with_logits_backward(1.0, cache)[0] == -0.5
    """,
    "layers/normalization.py": """
        import numpy as np
        import normalization as Nm
        x = np.array([[1.0], [3.0]])  # one channel, batch mean 2, biased variance 1, unbiased 2
        out, cache, rm, rv = Nm.batch_norm_forward(x, np.zeros(1), np.ones(1), None, None, training=True,
                                                   momentum=0.5, eps=0.0)
        assert out.tolist() == [[-1.0], [1.0]] and rm.tolist() == [1.0] and rv.tolist() == [1.5]  # 0.5*1 + 0.5*2
        dx, dw, db = Nm.batch_norm_backward(np.array([[1.0], [1.0]]), cache)
        assert dx.tolist() == [[0.0], [0.0]] and dw is None and db is None  # a shift of dy changes nothing
        out, _ = Nm.rms_norm_forward(np.array([3.0, 4.0]), 2, None, eps=0.0)  # rms = sqrt(12.5)
        assert np.allclose(out, np.array([3.0, 4.0]) / 12.5 ** 0.5, rtol=1e-15)
    """,
    "autograd/scalar.py": """
        import scalar
        a, b = scalar.Value(2.0), scalar.Value(3.0)
        c = a * b + a  # dc/da = b + 1 = 4, dc/db = a = 2
        c.backward()
        assert c.data == 8.0 and a.grad == 4.0 and b.grad == 2.0
        d = scalar.Dual(2.0, 1.0) * scalar.Dual(3.0)  # 3x at x = 2 with tangent dx = 1: value 6, derivative 3
        assert d.value == 6.0 and d.tangent == 3.0
        g, hv = scalar.hessian_vector_product(lambda z: z[0] * z[0] * z[1], [2.0, 3.0], [1.0, 0.0])
        assert g == [12.0, 4.0] and hv == [6.0, 4.0]  # f = x^2 y: grad (2xy, x^2), H e_1 = (2y, 2x)
    """,
    "autograd/tensor.py": """
        import numpy as np
        import tensor
        x = tensor.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
        y = (x * x).sum()  # d/dx sum x^2 = 2x
        y.backward()
        assert float(y.data) == 30.0 and x.grad.tolist() == [[2.0, 4.0], [6.0, 8.0]]
        assert tensor.unbroadcast(np.ones((3, 2)), (2,)).tolist() == [3.0, 3.0]
        w = tensor.Tensor(np.array([2.0]))
        h = tensor.checkpoint_sequential([lambda h: h * w, lambda h: h * w], 2, tensor.Tensor(np.array([3.0])))
        h.backward(np.ones(1))  # h = 3 w^2: dh/dw = 6 w = 12
        assert h.data.tolist() == [12.0] and w.grad.tolist() == [12.0]
        value, grad, hv = tensor.tensor_hvp(lambda t: (t * t * t).sum(), [np.array([2.0])], [np.array([1.0])])
        assert value == 8.0 and grad[0].tolist() == [12.0] and hv[0].tolist() == [12.0]  # 3x^2, 6x at x = 2
    """,
}

# Copying a whole folder: the package's __init__ (its relative imports included) works without dlmath.
FOLDER_USES = {
    "layers": "import layers.activations, layers.dropout, layers.linear, layers.losses",
    "autograd": """
        import autograd
        v = autograd.Value(1.5) * 2.0
        v.backward()
        assert v.data == 3.0 and autograd.Tensor([1.0]).shape == (1,)
    """,
}


def _files():
    return sorted(f"{folder}/{p.name}" for folder in FOLDERS for p in (PACKAGE / folder).glob("*.py")
                  if p.name != "__init__.py")


def _run(code, cwd):
    return subprocess.run([sys.executable, "-c", BLOCK_DLMATH + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_every_file_has_a_use():
    """A new file in layers/ or autograd/ needs an entry in USES (so that it is checked alone too)."""
    assert sorted(USES) == _files()


@pytest.mark.parametrize("rel", _files())
def test_file_works_alone(rel, tmp_path):
    shutil.copy(PACKAGE / rel, tmp_path / Path(rel).name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(rel).name]  # nothing else there
    result = _run(USES[rel], tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("folder", FOLDERS)
def test_folder_works_alone(folder, tmp_path):
    shutil.copytree(PACKAGE / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    result = _run(FOLDER_USES[folder], tmp_path)
    assert result.returncode == 0, result.stderr


def test_blocked_package_really_is_blocked(tmp_path):
    """The guard works: with dlmath blocked, importing it fails in the subprocess."""
    result = _run("import dlmath.layers.activations", tmp_path)
    assert result.returncode != 0 and "No module named 'dlmath" in result.stderr
