"""pysiglib 4.0's whole public surface exists in sigrs with its parameter names:
a pysiglib program runs on sigrs by changing its import (issue 18).

Checked by introspection against the installed pysiglib (every public
function and class of ``pysiglib`` and ``pysiglib.torch_api`` but the branched
signatures and trees, which sigrs does not have), then the small names this
needs: the build constants, the cache functions and their keywords."""

from __future__ import annotations

import inspect
import os
import platform

import numpy as np
import pytest

import sigrs
from _util import peer

# pysiglib's branched (tree-indexed) signatures and its tree utilities are
# outside sigrs's scope; JAX is pysiglib's own extra.
_OUT_OF_SCOPE = ("branched", "tree", "jax", "BUILT_WITH_JAX_FFI")


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    keep = []
    for name in names:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or any(s in name.lower() for s in (p.lower() for p in _OUT_OF_SCOPE)):
            continue
        keep.append(name)
    return keep


def _parameters(obj) -> dict:
    target = obj.__init__ if inspect.isclass(obj) else obj
    return dict(inspect.signature(target).parameters)


@pytest.mark.parametrize("namespace", ["pysiglib", "pysiglib.torch_api"])
def test_every_pysiglib_name_exists_in_sigrs_with_its_parameters(namespace):
    import importlib

    theirs = importlib.import_module(namespace)
    ours = importlib.import_module(namespace.replace("pysiglib", "sigrs"))
    missing, bad = [], []
    for name in _public_names(theirs):
        if name == "__version__":
            continue
        if not hasattr(ours, name):
            missing.append(name)
            continue
        their_obj, our_obj = getattr(theirs, name), getattr(ours, name)
        if not callable(their_obj) or (inspect.isclass(their_obj) and issubclass(their_obj, BaseException)):
            continue
        try:
            their_params = _parameters(their_obj)
        except (TypeError, ValueError):
            continue
        our_params = _parameters(our_obj)
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in our_params.values())
        for pname, p in their_params.items():
            if pname.startswith("_") or pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if pname not in our_params and not takes_kwargs:
                bad.append(f"{name}({pname}=)")
            elif pname in our_params and p.kind is p.POSITIONAL_OR_KEYWORD:
                # a positional parameter of pysiglib's is positional at the same place here
                their_pos = [n for n, q in their_params.items() if q.kind is q.POSITIONAL_OR_KEYWORD]
                our_pos = [n for n, q in our_params.items() if q.kind is q.POSITIONAL_OR_KEYWORD]
                if our_pos[: their_pos.index(pname) + 1][-1:] != [pname]:
                    bad.append(f"{name}: {pname} not at position {their_pos.index(pname)}")
    assert not missing, f"missing from {namespace.replace('pysiglib', 'sigrs')}: {missing}"
    assert not bad, f"parameters pysiglib has and sigrs lacks: {bad}"


def test_the_check_above_sees_a_missing_parameter():
    # the introspection must notice a function without one of pysiglib's keywords
    def sig(path, degree):
        return None

    assert "horner" in _parameters(peer("pysiglib").sig) and "horner" not in _parameters(sig)


def test_build_constants():
    pysiglib = peer("pysiglib")
    assert sigrs.SYSTEM == platform.system() == pysiglib.SYSTEM
    assert sigrs.BUILT_WITH_AVX is (sigrs._native.simd_level() != "baseline")
    assert sigrs.BUILT_WITH_CUDA is sigrs.cuda_available()
    import sigrs.torch_api as api

    assert api.BUILT_WITH_CUDA is sigrs.BUILT_WITH_CUDA and api.SYSTEM == sigrs.SYSTEM
    with pytest.raises(AttributeError, match="no attribute 'BUILT_WITH_NOTHING'"):
        sigrs.BUILT_WITH_NOTHING


def test_set_cache_dir_checks_its_directory_as_pysiglib_does(tmp_path):
    pysiglib = peer("pysiglib")
    sigrs.set_cache_dir(str(tmp_path))
    missing, a_file = str(tmp_path / "missing"), tmp_path / "file"
    a_file.write_text("")
    for bad in (missing, str(a_file)):
        with pytest.raises(ValueError, match="dir"):
            sigrs.set_cache_dir(bad)
        with pytest.raises(ValueError):
            pysiglib.set_cache_dir(bad)
    with pytest.raises(TypeError, match="dir"):
        sigrs.set_cache_dir(tmp_path)  # a Path, not a str: pysiglib refuses it too
    # sigrs writes nothing there
    sigrs.prepare_log_sig(3, 4, 2, use_disk=True)
    assert sorted(os.listdir(tmp_path)) == ["file"]


@pytest.mark.parametrize("method", [0, 1, 2, 3])
def test_prepare_log_sig_and_clear_cache_take_pysiglibs_keywords(rng, method):
    x = rng.standard_normal((4, 9, 3))
    before = sigrs.log_sig(x, 4, method=method)
    for device in ("cpu", "cuda", "both"):
        sigrs.prepare_log_sig(3, 4, method, time_aug=False, lead_lag=False, use_disk=False, device=device)
    sigrs.clear_cache()
    sigrs.clear_cache(use_disk=True, device="cpu")
    # tables rebuilt after clearing give the same numbers
    np.testing.assert_array_equal(sigrs.log_sig(x, 4, method=method), before)
    for call in (lambda: sigrs.prepare_log_sig(3, 4, method, device="gpu"), lambda: sigrs.clear_cache(device="gpu")):
        with pytest.raises(ValueError, match="device"):
            call()
    with pytest.raises(TypeError, match="use_disk"):
        sigrs.prepare_log_sig(3, 4, method, use_disk="yes")
    with pytest.raises(TypeError, match="use_disk"):
        sigrs.clear_cache(use_disk=None)


@pytest.mark.parametrize("alphabet_size", [0, 1, 2, 3, 4])
def test_lyndon_words_take_pysiglibs_names_and_give_its_words(alphabet_size):
    pysiglib = peer("pysiglib")
    for n in range(0, 6):
        assert sigrs.lyndon_words(alphabet_size=alphabet_size, max_length=n) == pysiglib.lyndon_words(
            alphabet_size=alphabet_size, max_length=n
        )
        assert sigrs.lyndon_words_of_length(alphabet_size=alphabet_size, length=n) == pysiglib.lyndon_words_of_length(
            alphabet_size=alphabet_size, length=n
        )
