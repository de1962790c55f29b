"""``sigrs.torch_api``: pysiglib's torch namespace. Every example in the
docstrings of pysiglib's torch namespace (read from the installed pysiglib at
test time) runs on sigrs with only its imports changed, and leaves the same
numbers as under pysiglib; and each differentiable function's gradient flows
through autograd."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap

import numpy as np
import pytest
import torch

import sigrs
import sigrs.torch_api as api
from _util import peer

pysiglib = peer("pysiglib")
import pysiglib.torch_api as their_api  # noqa: E402

_OUT_OF_SCOPE = ("branched", "tree")


def _examples() -> list:
    found = []
    for name in sorted(dir(their_api)):
        if name.startswith("_") or any(s in name for s in _OUT_OF_SCOPE):
            continue
        doc = getattr(getattr(their_api, name), "__doc__", None) or ""
        for k, block in enumerate(re.split(r"\.\. code-block::[^\n]*\n", doc)[1:]):
            lines = block.split("\n")
            # the block: from its first line on, the lines indented at least as much
            indent = next(len(l) - len(l.lstrip()) for l in lines if l.strip())
            body = []
            for line in lines:
                if line.strip() and len(line) - len(line.lstrip()) < indent:
                    break
                body.append(line)
            found.append(pytest.param(name, textwrap.dedent("\n".join(body)), id=f"{name}-{k}"))
    return found


def _to_sigrs(code: str) -> str:
    code = re.sub(r"import pysiglib\.torch_api as (\w+)", r"import sigrs.torch_api as \1", code)
    code = re.sub(r"^(\s*)import pysiglib\s*$", r"\1import sigrs as pysiglib", code, flags=re.M)
    return code.replace("pysiglib.torch_api.", "sigrs.torch_api.")


def _run(code: str) -> dict:
    # In float64 (torch.rand's default dtype raised): some examples' values
    # are large enough (1e25) that float32 rounding, different in each
    # library, would decide them.
    torch.manual_seed(0)
    np.random.seed(0)
    namespace: dict = {}
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "<example>", "exec"), namespace)
    finally:
        torch.set_default_dtype(default)
    return namespace


EXAMPLES = _examples()

# Examples whose numbers pysiglib gets wrong: their unbiased estimators
# subtract k(x, x) (here about 1e15) from the Gram's sum, which cancels away
# their digits; sigrs sums the off-diagonal entries
# (test_pysiglib_differences.py shows the error). These are checked to run.
INACCURATE_IN_PYSIGLIB = {"sig_mmd-1", "expected_sig_score-1"}


def test_examples_were_found():
    assert len(EXAMPLES) >= 30


@pytest.mark.parametrize("name, code", EXAMPLES)
def test_pysiglib_torch_examples_run_unchanged_but_the_import(name, code, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)  # examples that make a cache directory make it here
    monkeypatch.setenv("HOME", str(tmp_path))
    ours = _run(_to_sigrs(code))
    if request.node.callspec.id in INACCURATE_IN_PYSIGLIB:
        values = [v for v in ours.values() if isinstance(v, torch.Tensor)]
        assert values and all(torch.isfinite(v).all() for v in values)
        return
    theirs = _run(code)
    compared = 0
    for key, value in theirs.items():
        if isinstance(value, (torch.Tensor, np.ndarray)) and key in ours and np.asarray(value.detach() if isinstance(value, torch.Tensor) else value).dtype.kind == "f":
            a = ours[key].detach().numpy() if isinstance(ours[key], torch.Tensor) else np.asarray(ours[key])
            b = value.detach().numpy() if isinstance(value, torch.Tensor) else value
            assert a.shape == b.shape, key
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8 * max(1.0, float(np.abs(b).max(initial=0))), err_msg=key)
            compared += 1
        elif isinstance(value, (list, tuple, int, bool)) and key in ours and not key.startswith("_"):
            assert ours[key] == value, key
            compared += 1
    # (these examples only print or prepare)
    assert compared or name in ("set_cache_dir", "clear_cache", "prepare_log_sig", "is_lyndon"), "nothing to compare"


def test_names_are_sigrs_differentiable_functions():
    for name in ("sig", "log_sig", "log_sig_combine", "log_sig_join", "linear_log_sig", "sig_kernel",
                 "sig_kernel_gram", "sig_mmd", "sig_combine", "sig_join", "logsig_to_sig", "sig_coef"):
        assert getattr(api, name) is getattr(sigrs, name)


def test_gradients_flow_through_the_namespace():
    x = torch.rand(4, 20, 3, dtype=torch.float64, requires_grad=True)
    y = torch.rand(4, 15, 3, dtype=torch.float64)
    loss = api.sig(x, 3).sum() + api.log_sig(x, 3, method=2).pow(2).sum() + api.sig_kernel(x, y, dyadic_order=1).sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda p: api.log_sig(p, 3, method=2), (x[:1, :6].detach().requires_grad_(),))
