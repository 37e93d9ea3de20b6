"""Shared fixtures for the tests, and the switch that makes the PyTorch oracle compulsory.

PyTorch is optional: a test that compares with it skips cleanly without it
(``pytest.importorskip("torch")``). Where torch is installed on purpose (continuous integration,
``.ci/run``), set ``DLMATH_REQUIRE_TORCH=1``: then a skip whose reason mentions torch is a failure, so
that a broken or missing PyTorch cannot silently turn the oracle comparisons off.
"""
import os
import re

import numpy as np
import pytest

REQUIRE_TORCH = os.environ.get("DLMATH_REQUIRE_TORCH", "").strip().lower() not in ("", "0", "false", "no")
TORCH_REASON = re.compile(r"\btorch\b|pytorch", re.IGNORECASE)


@pytest.fixture
def rng():
    """A seeded generator: every random test input comes from it, never from global state."""
    return np.random.default_rng(20261123)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2])
    return str(longrepr)


def _fail_torch_skip(report, what: str) -> None:
    if REQUIRE_TORCH and report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if TORCH_REASON.search(reason):
            report.outcome = "failed"
            report.longrepr = (f"DLMATH_REQUIRE_TORCH is set, but {what} was skipped for a reason that names "
                               f"PyTorch: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_torch_skip(outcome.get_result(), f"the test {item.nodeid}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_torch_skip(outcome.get_result(), f"collecting {collector.nodeid}")


def pytest_report_header(config):
    if REQUIRE_TORCH:
        return "DLMATH_REQUIRE_TORCH=1: a test skipped for want of PyTorch fails"
