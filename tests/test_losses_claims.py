"""The claims of chapter 7's misconceptions, tested on the package.

Each test states a property the chapter derives or measures, on several seeds or a grid of sizes, so that
the chapter's sentences fail here if the package or the derivation changes: two softmax outputs train as
one sigmoid output, label smoothing has finite optimal logits at the gap the chapter displays, a softmax in
front of the cross-entropy shrinks the gradient and floors the loss, log(softmax) underflows in float32 where
log_softmax does not, the squared error of the softmax ignores confidently wrong examples, and the
cross-entropy and the Brier score are strictly proper, the best expected cross-entropy is H(Y | X) and the
input's gain over the class prior is I(X; Y), and a Gaussian NLL moves by sum_j log sigma_{y,j} when the
targets are standardized. The label-smoothing weight is lambda_ls (``lam_ls``; PyTorch's ``label_smoothing``).
PyTorch is an optional oracle (``test_torch_*``).
"""
import numpy as np
import pytest

from dlmath import information as info
from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.layers import losses as L
from dlmath.models import logistic_regression as LR


def _softmax_jacobian_product(P, G):
    """Row by row J_softmax(z_n) g_n = p_n * (g_n - <g_n, p_n>), for P, G of shape (N, K)."""
    return P * (G - (G * P).sum(axis=1, keepdims=True))


# --------------------------------------------------------------------- two outputs versus one sigmoid
@pytest.mark.parametrize("seed", range(4))
def test_two_class_softmax_regression_trains_as_logistic_regression_with_twice_the_step(seed):
    """softmax_1(z_0, z_1) = sigmoid(z_1 - z_0) (eq-losses-two-class), and from zero a gradient step of
    size eta on the two rows moves w_1 - w_0 by the logistic step of size 2 eta: same probabilities."""
    rng = np.random.default_rng(seed)
    n, d, eta = 120, 4, 0.3
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ rng.standard_normal(d)))).astype(int)
    W, b, w, c = np.zeros((2, d)), np.zeros(2), np.zeros(d), 0.0
    for _ in range(60):
        gW, gb = LR.softmax_regression_grad(X, y, W, b)
        W, b = W - eta * gW, b - eta * gb
        gw, gc = LR.logistic_regression_grad(X, y.astype(float), w, c)
        w, c = w - 2 * eta * gw, c - 2 * eta * gc
        p_two = L.softmax(X @ W.T + b)[:, 1]
        p_one = 1 / (1 + np.exp(-(X @ w + c)))
        np.testing.assert_allclose(p_two, p_one, rtol=0, atol=1e-13)
    np.testing.assert_allclose(W[1] - W[0], w, rtol=0, atol=1e-13)
    np.testing.assert_allclose(W[1] + W[0], 0.0, atol=1e-13)  # the shift direction never moves from zero


def test_two_sigmoid_outputs_are_a_different_model():
    """The model that is different: two independent sigmoids need not sum to 1."""
    z = np.array([[2.0, 1.0], [-1.0, -3.0]])
    p = 1 / (1 + np.exp(-z))
    assert np.all(np.abs(p.sum(axis=1) - 1) > 0.1)
    np.testing.assert_allclose(L.softmax(z).sum(axis=1), 1.0, rtol=1e-15)


# ------------------------------------------------------------------------------------- label smoothing
@pytest.mark.parametrize("k", [2, 3, 10])
@pytest.mark.parametrize("lam_ls", [0.05, 0.1, 0.3])
def test_label_smoothing_optimum_has_the_displayed_finite_gap(k, lam_ls):
    """At z_t - z_k = log(1 + K (1 - lam_ls) / lam_ls) (eq-losses-smoothing-gap) the smoothed gradient vanishes,
    and the loss there is the entropy of the smoothed target; a larger or smaller gap is worse."""
    gap = np.log1p(k * (1 - lam_ls) / lam_ls)
    t = np.array([k - 1])
    q = np.full(k, lam_ls / k)
    q[-1] += 1 - lam_ls
    entropy = -np.sum(q * np.log(q))
    for shift in [0.0, -3.7, 12.0]:  # any common shift of the logits
        z = np.full((1, k), shift)
        z[0, -1] += gap
        loss, cache = L.cross_entropy_forward(z, t, label_smoothing=lam_ls)
        np.testing.assert_allclose(L.cross_entropy_backward(1.0, cache), 0.0, atol=1e-14)
        np.testing.assert_allclose(loss, entropy, rtol=1e-13)
        for delta in [-0.5, 0.5, 5.0]:
            z2 = z.copy()
            z2[0, -1] += delta
            assert L.cross_entropy_forward(z2, t, label_smoothing=lam_ls)[0] > loss


@pytest.mark.parametrize("seed", range(3))
def test_smoothed_loss_grows_with_the_logit_spread(seed):
    """loss >= (lam_ls / K)(max_j z_j - min_j z_j): no minimizer at infinity; without smoothing the loss of a
    correctly classified example keeps falling as its logit gap grows."""
    rng = np.random.default_rng(seed)
    k, lam_ls = 5, 0.1
    Z = 30 * rng.standard_normal((200, k))
    t = rng.integers(0, k, 200)
    losses = L.cross_entropy_forward(Z, t, reduction="none", label_smoothing=lam_ls)[0]
    assert np.all(losses >= lam_ls / k * (Z.max(axis=1) - Z.min(axis=1)) - 1e-12)
    gaps = np.array([1.0, 5.0, 10.0, 20.0])  # beyond ~36 the loss rounds to 0 in float64
    z = np.zeros((4, k))
    z[:, 0] = gaps
    plain = L.cross_entropy_forward(z, np.zeros(4, dtype=int), reduction="none")[0]
    assert np.all(np.diff(plain) < 0) and np.all(plain > 0)


# ------------------------------------------------------------------------------------- double softmax
@pytest.mark.parametrize("seed", range(3))
def test_double_softmax_gradient_floor_and_shrinkage(seed):
    """cross_entropy(softmax(z)) has gradient J (softmax(p) - y) / N, a loss floor log(e + K - 1) - 1, and a
    gradient that vanishes on confidently wrong examples while the correct one stays near p - y."""
    rng = np.random.default_rng(seed)
    n, k = 6, 4
    Z = 2 * rng.standard_normal((n, k))
    t = rng.integers(0, k, n)

    def double(x):
        return L.cross_entropy_forward(L.softmax(x), t)[0]

    P = L.softmax(Z)
    G = (L.softmax(P) - np.eye(k)[t]) / n
    analytic = _softmax_jacobian_product(P, G)
    assert relative_error(analytic, numerical_gradient(double, Z.copy())) < 1e-7
    perfect = np.eye(k)[t]  # probabilities that are exactly one-hot and right
    assert L.cross_entropy_forward(perfect, t)[0] == pytest.approx(np.log(np.e + k - 1) - 1, rel=1e-14)
    assert double(Z) > np.log(np.e + k - 1) - 1
    wrong = np.zeros((n, k))
    wrong[np.arange(n), (t + 1) % k] = 12.0  # confidently wrong
    P_w = L.softmax(wrong)
    g_double = _softmax_jacobian_product(P_w, (L.softmax(P_w) - np.eye(k)[t]) / n)
    g_right = L.cross_entropy_backward(1.0, L.cross_entropy_forward(wrong, t)[1])
    assert np.abs(g_double).max() < 1e-4 < 0.9 / n < np.abs(g_right[np.arange(n), t]).min()


@pytest.mark.parametrize("seed", range(3))
def test_squared_error_of_softmax_ignores_confidently_wrong_examples(seed):
    """The Brier gradient through the softmax carries J's entries: on confidently wrong logits it is tiny,
    the cross-entropy's is about -1 on the true class (per example)."""
    rng = np.random.default_rng(seed)
    k = 3
    t = rng.integers(0, k, 8)

    def brier(x):
        return L.mse_loss_forward(L.softmax(x), np.eye(k)[t])[0]

    def brier_grad(x):
        P = L.softmax(x)
        return _softmax_jacobian_product(P, L.mse_loss_backward(1.0, L.mse_loss_forward(P, np.eye(k)[t])[1]))

    Z_mid = rng.standard_normal((8, k))  # the chain rule against central differences, at moderate logits
    assert relative_error(brier_grad(Z_mid), numerical_gradient(brier, Z_mid.copy())) < 1e-7
    Z = np.zeros((8, k))
    Z[np.arange(8), (t + 1) % k] = 10.0 + rng.random(8)  # confidently wrong
    g_mse = brier_grad(Z)
    g_ce = L.cross_entropy_backward(1.0, L.cross_entropy_forward(Z, t)[1])
    assert np.abs(g_mse).max() < 1e-4 * np.abs(g_ce[np.arange(8), t]).min()


@pytest.mark.parametrize("seed", range(5))
def test_cross_entropy_and_brier_are_strictly_proper(seed):
    """For a class drawn from q, E[-log p_t] and E||p - y||^2 are smallest at p = q, larger at every other
    point of the simplex (Gibbs' inequality; ||p - q||^2 + 1 - ||q||^2)."""
    rng = np.random.default_rng(seed)
    k = 4
    q = rng.dirichlet(np.ones(k))
    Y = np.eye(k)

    def expected(p):
        ce = -np.sum(q * np.log(p))
        brier = np.sum(q * np.sum((p[None, :] - Y) ** 2, axis=1))
        return ce, brier

    ce_q, brier_q = expected(q)
    assert brier_q == pytest.approx(1 - q @ q, rel=1e-13)
    for p in rng.dirichlet(np.ones(k), size=500):
        ce_p, brier_p = expected(p)
        assert ce_p > ce_q and brier_p > brier_q
        assert brier_p - brier_q == pytest.approx(np.sum((p - q) ** 2), rel=1e-9, abs=1e-15)


# ------------------------------------------------------------------------------- log of softmax, float32
def test_log_of_softmax_underflows_in_float32_where_log_softmax_does_not():
    """Gap 110 in float32: log(softmax) gives -inf and a NaN gradient through 1/p; log_softmax and the
    fused gradient p - y stay finite and exact."""
    z = np.array([0.0, -110.0], dtype=np.float32)
    p = L.softmax(z)
    assert p[1] == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.log(p)[1] == -np.inf
        naive_grad = (np.diag(p) - np.outer(p, p)) @ (-np.array([0.0, 1.0], dtype=np.float32) / p)
    assert np.all(np.isnan(naive_grad))
    assert L.log_softmax(z)[1] == np.float32(-110.0)
    g = L.cross_entropy_backward(np.float32(1.0), L.cross_entropy_forward(z[None, :], np.array([1]))[1])
    np.testing.assert_array_equal(g, [[1.0, -1.0]])


def test_temperature_keeps_every_prediction():
    """softmax(z / theta) has the argmax of z for every temperature theta > 0 (eq-losses-temperature)."""
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((500, 6))
    for theta in [0.05, 0.5, 1.0, 3.0, 50.0]:
        np.testing.assert_array_equal(L.softmax(Z / theta).argmax(axis=1), Z.argmax(axis=1))
    assert L.softmax(Z / 50.0).max() < L.softmax(Z).max() < L.softmax(Z / 0.05).max()


# ------------------------------------------------------------------------------- information and units
@pytest.mark.parametrize("seed", range(4))
def test_best_expected_cross_entropy_is_the_conditional_entropy(seed):
    """For a discrete input X and class Y with joint table p: the true conditional p(y | x) has expected
    cross-entropy H(Y | X), every other model more; the best input-free model is the class prior, at H(Y);
    and H(Y) - H(Y | X) = I(X; Y) (eq-losses-information-gain), the package's mutual_information."""
    rng = np.random.default_rng(seed)
    k, j = 3 + seed % 2, 4
    joint = rng.dirichlet(np.ones(k * j)).reshape(k, j)                 # rows: classes, columns: inputs
    p_x, p_y = joint.sum(axis=0), joint.sum(axis=1)
    cond = joint / p_x                                                   # (K, J): p(y | x) by columns

    def expected_ce(q):                                                  # q: (K, J), a distribution per input
        return -np.sum(joint * np.log(q))

    h_cond = expected_ce(cond)
    assert h_cond == pytest.approx(np.sum(p_x * info.entropy(cond.T)), rel=1e-12)
    for _ in range(20):                                                  # other models: perturbed conditionals
        other = L.softmax(np.log(cond) + 0.3 * rng.standard_normal((k, j)), dim=0)
        assert expected_ce(other) > h_cond
    h_y = expected_ce(np.repeat(p_y[:, None], j, axis=1))
    assert h_y == pytest.approx(info.entropy(p_y), rel=1e-12)
    for _ in range(20):                                                  # other input-free models
        q = L.softmax(np.log(p_y) + 0.3 * rng.standard_normal(k))
        assert expected_ce(np.repeat(q[:, None], j, axis=1)) > h_y
    assert h_y - h_cond == pytest.approx(info.mutual_information(joint), rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_gaussian_nll_in_original_units_is_the_standardized_one_plus_log_scales(seed):
    """Targets standardized per coordinate, y~ = (y - ybar) / s: the NLL of the same Gaussian prediction in
    the original units is the standardized NLL plus sum_j log s_j, per example (eq-losses-nll-units)."""
    rng = np.random.default_rng(seed)
    n, d = 50, 3
    scale = np.exp(3 * rng.standard_normal(d))                           # (D,) very different units
    Y = 10 * rng.standard_normal(d) + scale * rng.standard_normal((n, d))
    ybar, s = Y.mean(axis=0), Y.std(axis=0)
    Yt = (Y - ybar) / s
    mu_t, var_t = 0.5 * rng.standard_normal((n, d)), np.exp(rng.standard_normal((n, d)))
    std = info.gaussian_nll(Yt, mu_t, var_t).sum(axis=1)
    orig = info.gaussian_nll(Y, ybar + s * mu_t, s ** 2 * var_t).sum(axis=1)
    np.testing.assert_allclose(orig - std, np.log(s).sum(), rtol=1e-12, atol=1e-10)
    wrong = info.gaussian_nll(Y, ybar + s * mu_t, s * var_t).sum(axis=1)  # the variance scaled by s, not s^2
    assert np.abs(wrong - std - np.log(s).sum()).max() > 1e-3


def test_torch_gaussian_nll_loss_shifts_by_the_log_scale():
    """F.gaussian_nll_loss(full=True) agrees with the package and shows the same shift (variances far above
    its eps, which would otherwise clamp them)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    y_t, mu_t, var_t = rng.standard_normal((3, 40))
    var_t = np.exp(var_t)
    ybar, s = 1200.0, 350.0
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    f = torch.nn.functional.gaussian_nll_loss
    std = f(t(mu_t), t(y_t), t(var_t), full=True, reduction="none").numpy()
    orig = f(t(ybar + s * mu_t), t(ybar + s * y_t), t(s ** 2 * var_t), full=True, reduction="none").numpy()
    np.testing.assert_allclose(std, info.gaussian_nll(y_t, mu_t, var_t), rtol=1e-13)
    np.testing.assert_allclose(orig - std, np.log(s), rtol=1e-12)


# ----------------------------------------------------------------------------------------- PyTorch oracle
def test_torch_double_softmax_and_log_of_softmax():
    """PyTorch accepts probabilities as logits without complaint and computes the same double-softmax
    loss; its log(softmax) in float32 gives inf and NaN gradients, its log_softmax does not."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((5, 3))
    t = rng.integers(0, 3, 5)
    zt = torch.tensor(Z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(torch.softmax(zt, 1), torch.tensor(t))
    lt.backward()
    P = L.softmax(Z)
    assert lt.item() == pytest.approx(L.cross_entropy_forward(P, t)[0], rel=1e-13)
    G = (L.softmax(P) - np.eye(3)[t]) / 5
    np.testing.assert_allclose(zt.grad.numpy(), _softmax_jacobian_product(P, G), rtol=1e-10, atol=1e-15)
    z32 = torch.tensor([0.0, -110.0], requires_grad=True)
    naive = -torch.log(torch.softmax(z32, 0))[1]
    naive.backward()
    assert naive.item() == float("inf") and torch.isnan(z32.grad).all()
    z32.grad = None
    fused = -torch.log_softmax(z32, 0)[1]
    fused.backward()
    assert fused.item() == pytest.approx(110.0) and torch.isfinite(z32.grad).all()
