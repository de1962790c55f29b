"""sigrs.sklearn and sigrs.sktime: signature features and signature-kernel Grams as estimators.

SignatureTransformer is checked against a plain loop of sigrs.sig / log_sig
over each window of a path augmented by a reference written here from
sktime's definitions (to 1e-10), and against sktime's own augmentation,
window and rescaling code with iisignature standing in for esig (which no
longer installs). The kernels are checked against sigrs.sig_kernel_gram;
the estimators by scikit-learn's and sktime's own estimator checks, and in
pipelines with cross-validation and grid search.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from _util import assert_close, make_path

sklearn = pytest.importorskip("sklearn")

import sigrs  # noqa: E402
import sigrs.sklearn as sk  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.svm import SVC  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

RTOL = 1e-10


def _python(code):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


# ---------------------------------------------------------------------------
# importing
# ---------------------------------------------------------------------------


def test_importing_sigrs_imports_neither_sklearn_nor_sktime():
    run = _python(
        "import sys, numpy as np, sigrs\n"
        "sigrs.sig(np.zeros((2, 3, 2)), 2)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'sktime')))"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("module, missing, extra", [("sigrs.sklearn", "sklearn", "sklearn"), ("sigrs.sktime", "sktime", "sktime")])
def test_importing_an_integration_without_its_library_names_the_extra(module, missing, extra):
    run = _python(f"import sys\nsys.modules[{missing!r}] = None\nimport {module}")
    assert run.returncode != 0
    assert "ImportError" in run.stderr and f"pip install 'sigrs[{extra}]'" in run.stderr


# ---------------------------------------------------------------------------
# a reference signature method, from sktime's documented definitions
# ---------------------------------------------------------------------------


def ref_augment(path, name):
    """One path (length, channels), augmented point by point."""
    length, c = path.shape
    if name == "basepoint":
        return np.vstack([np.zeros(c), path])
    if name == "addtime":
        t = np.array([i / (length - 1) if length > 1 else 0.0 for i in range(length)])
        return np.column_stack([t, path])
    if name == "leadlag":
        points = []
        for i in range(length):
            points.append(np.concatenate([path[i], path[i]]))
            if i + 1 < length:
                points.append(np.concatenate([path[i + 1], path[i]]))
        return np.array(points)
    if name == "cumsum":
        return np.array([path[: i + 1].sum(axis=0) for i in range(length)])
    assert name == "ir"
    pen_down = np.column_stack([np.ones(length), path])
    pen_up = np.concatenate([[0.0], path[-1]])
    return np.vstack([pen_down, pen_up, np.zeros(c + 1)])


def ref_windows(name, length, wdepth=None, wlen=None, step=None):
    if name == "global":
        return [(0, length)]
    if name == "dyadic":
        out = []
        for j in range(wdepth + 1):
            edges = [math.floor(i * length / 2**j) for i in range(2**j + 1)]
            out += list(zip(edges[:-1], edges[1:]))
        return out
    out, start, end = [], 0, wlen
    while end <= length:
        out.append((start, end))
        if name == "sliding":
            start += step
        end += step
    return out


def ref_method(X, augs, window, depth, rescaling=None, sig_tfm="signature", method="words", **wkw):
    """Per path, per window: one sigrs.sig / sigrs.log_sig call on the window's points."""
    rows = []
    for path in X:
        for a in augs:
            path = ref_augment(path, a)
        if rescaling == "pre":
            path = path * math.factorial(depth) ** (1 / depth)
        d = path.shape[1]
        row = []
        for start, end in ref_windows(window, len(path), **wkw):
            piece = path[start:end]
            if sig_tfm == "logsignature":
                row.append(sigrs.log_sig(piece, depth, method=method))
                continue
            s = sigrs.sig(piece, depth)
            if rescaling == "post":
                s = np.concatenate([s[sigrs.sig_length(d, k - 1):sigrs.sig_length(d, k)] * math.factorial(k)
                                    for k in range(1, depth + 1)])
            row.append(s)
        rows.append(np.concatenate(row))
    return np.array(rows)


WINDOW_CASES = {
    "global": dict(window_name="global"),
    "dyadic": dict(window_name="dyadic", window_depth=2),
    "sliding": dict(window_name="sliding", window_length=4, window_step=3),
    "expanding": dict(window_name="expanding", window_length=2, window_step=3),
}


def _ref_window_kw(kw):
    return dict(wdepth=kw.get("window_depth"), wlen=kw.get("window_length"), step=kw.get("window_step"))


@pytest.mark.parametrize("window", list(WINDOW_CASES))
@pytest.mark.parametrize("augs", [(), ("basepoint", "addtime"), ("leadlag", "cumsum"), ("ir", "basepoint"), ("addtime", "ir", "leadlag")],
                         ids=lambda a: "+".join(a) or "none")
def test_signature_features_equal_a_loop_over_the_windows(rng, window, augs):
    X = make_path(rng, (3, 9, 2))
    kw = WINDOW_CASES[window]
    got = sk.SignatureTransformer(augmentation_list=augs, depth=3, **kw).fit_transform(X)
    assert_close(got, ref_method(X, augs, window, 3, **_ref_window_kw(kw)), RTOL, f"{window} {augs}")


@pytest.mark.parametrize("rescaling", ["pre", "post"])
def test_rescaling_pre_scales_the_path_and_post_the_levels(rng, rescaling):
    X = make_path(rng, (2, 12, 3))
    kw = WINDOW_CASES["sliding"]
    got = sk.SignatureTransformer(rescaling=rescaling, depth=4, **kw).fit_transform(X)
    assert_close(got, ref_method(X, ("basepoint", "addtime"), "sliding", 4, rescaling=rescaling,
                                 **_ref_window_kw(kw)), RTOL, rescaling)


@pytest.mark.parametrize("method", ["words", "lyndon", "hall"])
@pytest.mark.parametrize("window", ["global", "dyadic", "sliding"])
def test_logsignature_features_are_the_log_of_each_window(rng, method, window):
    X = make_path(rng, (3, 10, 2))
    kw = WINDOW_CASES[window]
    got = sk.SignatureTransformer(sig_tfm="logsignature", logsig_method=method, depth=3, **kw).fit_transform(X)
    expected = ref_method(X, ("basepoint", "addtime"), window, 3, sig_tfm="logsignature", method=method,
                          **_ref_window_kw(kw))
    assert_close(got, expected, RTOL, method)


def test_the_batch_is_cut_into_slices_without_changing_the_features(rng, monkeypatch):
    X = make_path(rng, (7, 9, 2))
    t = sk.SignatureTransformer(window_name="sliding", window_length=3, window_step=1, depth=3).fit(X)
    whole = t.transform(X)
    monkeypatch.setattr(sk, "_PREFIX_BYTES", 1)  # one path per slice
    np.testing.assert_array_equal(t.transform(X), whole)


@pytest.mark.parametrize("name, kw, length, expected", [
    ("dyadic", dict(window_depth=2), 7, [(0, 7), (0, 3), (3, 7), (0, 1), (1, 3), (3, 5), (5, 7)]),
    ("sliding", dict(window_length=3, window_step=2), 8, [(0, 3), (2, 5), (4, 7)]),
    ("expanding", dict(window_length=3, window_step=2), 8, [(0, 3), (0, 5), (0, 7)]),
    ("global", {}, 5, [(0, 5)]),
])
def test_windows_are_sktimes(name, kw, length, expected):
    assert sk.signature_windows(name, length, **kw) == expected
    window = pytest.importorskip("sktime.transformations.signature_based._window")
    theirs = window._window_getter(name, kw.get("window_depth"), kw.get("window_length"), kw.get("window_step"))(length)
    flat = [(length if w.end is None else w.end, w.start or 0) for group in theirs for w in group]
    assert [(s, e) for e, s in flat] == expected


# ---------------------------------------------------------------------------
# against sktime's own implementation, iisignature standing in for esig
# ---------------------------------------------------------------------------


@pytest.fixture
def sktime_method(monkeypatch):
    """sktime's augmentations, windows and rescaling, on signatures from iisignature."""
    pytest.importorskip("sktime")
    iisignature = pytest.importorskip("iisignature")
    esig = types.ModuleType("esig")
    esig.stream2sig = lambda x, n: np.concatenate([[1.0], iisignature.sig(x, n)])
    esig.stream2logsig = lambda x, n: iisignature.logsig(x, iisignature.prepare(x.shape[1], n, "S"))
    esig.sigdim = lambda d, n: iisignature.siglength(d, n) + 1
    esig.set_backend = lambda backend: None
    monkeypatch.setitem(sys.modules, "esig", esig)
    from sktime.transformations.signature_based._augmentations import _make_augmentation_pipeline
    from sktime.transformations.signature_based._compute import _WindowSignatureTransform

    class Windows(_WindowSignatureTransform):
        _tags = {**_WindowSignatureTransform._tags, "python_dependencies": None}

    def run(X, augs, sig_tfm, depth, rescaling, **kw):
        # sktime's SignatureTransformer is these steps in a Pipeline (built by hand:
        # scikit-learn 1.9's Pipeline does not take sktime's steps)
        for _, step in (_make_augmentation_pipeline(augs).steps if augs else []):
            X = step.fit_transform(X)
        return np.asarray(Windows(sig_tfm=sig_tfm, sig_depth=depth, rescaling=rescaling, **kw).fit_transform(X))

    return run


@pytest.mark.parametrize("window", list(WINDOW_CASES))
@pytest.mark.parametrize("augs, rescaling", [(("basepoint", "addtime", "leadlag"), "post"), (("ir", "cumsum"), "pre"),
                                              (("addtime",), None)])
def test_features_equal_sktimes_signature_method(rng, sktime_method, window, augs, rescaling):
    X = make_path(rng, (4, 2, 10))  # sktime's (n, channels, length)
    kw = WINDOW_CASES[window]
    theirs = sktime_method(X, augs, "signature", 3, rescaling, **kw)
    ours = sk.SignatureTransformer(augmentation_list=augs, depth=3, rescaling=rescaling, input_layout="ncl", **kw)
    assert_close(ours.fit_transform(X), theirs, RTOL, f"{window} {augs}")


def test_lyndon_logsignatures_equal_sktimes_on_iisignature(rng, sktime_method):
    X = make_path(rng, (4, 3, 10))
    theirs = sktime_method(X, ("basepoint", "addtime"), "logsignature", 3, None, window_name="dyadic", window_depth=1)
    ours = sk.SignatureTransformer(sig_tfm="logsignature", logsig_method="lyndon", depth=3, window_depth=1,
                                   input_layout="ncl").fit_transform(X)
    assert_close(ours, theirs, RTOL, "logsignature")


# ---------------------------------------------------------------------------
# layouts, dtypes, names
# ---------------------------------------------------------------------------


def test_every_layout_of_the_same_paths_gives_the_same_features(rng):
    X = make_path(rng, (5, 8, 3))
    t = sk.SignatureTransformer(window_depth=2, depth=3)
    nlc = t.fit_transform(X)
    ncl = t.set_params(input_layout="ncl").fit_transform(X.transpose(0, 2, 1))
    flat_ncl = t.set_params(n_channels=3).fit_transform(X.transpose(0, 2, 1).reshape(5, -1))
    flat_nlc = t.set_params(input_layout="nlc").fit_transform(X.reshape(5, -1))
    for other in (ncl, flat_ncl, flat_nlc):
        np.testing.assert_array_equal(other, nlc)
    assert t.n_features_in_ == 24 and t.path_shape_ == (8, 3)


def test_two_d_rows_without_n_channels_are_univariate_series(rng):
    X = make_path(rng, (4, 9, 1))
    t = sk.SignatureTransformer(window_name="global", depth=3)
    np.testing.assert_array_equal(t.fit_transform(X[..., 0]), t.fit_transform(X))
    assert t.get_feature_names_out()[:2].tolist() == ["S(0)", "S(1)"]  # time is channel 0


def test_float32_stays_float32(rng):
    X = make_path(rng, (4, 9, 2))
    t = sk.SignatureTransformer(window_name="sliding", window_length=4, window_step=2, depth=3)
    out32 = t.fit_transform(X.astype(np.float32))
    assert out32.dtype == np.float32
    assert_close(out32, t.fit_transform(X), 1e-4, "float32")
    assert t.fit_transform(np.ones((2, 9), dtype=int)).dtype == np.float64


def test_feature_names_name_the_words_and_windows(rng):
    X = make_path(rng, (3, 8, 2))
    t = sk.SignatureTransformer(depth=2, window_depth=1).fit(X)  # basepoint + addtime: 3 channels, 3 windows
    names = t.get_feature_names_out()
    assert len(names) == t.transform(X).shape[1] == 3 * sigrs.sig_length(3, 2)
    assert names[0] == "w0_S(0)" and names[3] == "w0_S(0,0)" and names[-1] == "w2_S(2,2)"
    t.set_output(transform="pandas")
    frame = t.transform(X)
    assert list(frame.columns) == list(names)
    np.testing.assert_array_equal(frame.to_numpy(), t.set_output(transform="default").transform(X))
    words = sk.SignatureTransformer(sig_tfm="logsignature", window_name="global", depth=3).fit(X)
    assert words.get_feature_names_out().tolist() == [f"logS({','.join(map(str, w))})" for w in sigrs.lyndon_words(3, 3)]
    lyndon = sk.SignatureTransformer(sig_tfm="logsignature", logsig_method="lyndon", window_name="global", depth=3).fit(X)
    brackets = sigrs.lyndon_brackets(3, 3)
    assert brackets[3] == (0, 1) and brackets[9] == (0, (1, 2))
    assert lyndon.get_feature_names_out()[[0, 3, 9]].tolist() == ["logS[0]", "logS[0,1]", "logS[0,[1,2]]"]


@pytest.mark.parametrize("params, message", [
    (dict(augmentation_list=("basepoint", "time")), "augmentation_list may hold only .* got 'time'"),
    (dict(window_name="tumbling"), "window_name must be one of 'global', 'sliding', 'expanding', 'dyadic', got 'tumbling'"),
    (dict(window_name="sliding"), r"window_length must be an int >= 1 \(needed by window_name='sliding'\), got None"),
    (dict(window_name="expanding", window_length=3, window_step=0), "window_step must be an int >= 1"),
    (dict(window_name="sliding", window_length=30, window_step=1), "window_length=30 is longer than the paths"),
    (dict(window_depth=4), "window_depth=4 is too deep for paths of 9 points .* window_depth <= 3"),
    (dict(sig_tfm="logsignature", rescaling="post"), "rescaling='post' .* does not apply to sig_tfm='logsignature'"),
    (dict(rescaling="mid"), "rescaling must be one of 'pre', 'post', got 'mid'"),
    (dict(depth=0), "depth must be an int >= 1, got 0"),
    (dict(logsig_method=2), "logsig_method must be one of 'words', 'lyndon', 'hall', got 2"),
    (dict(input_layout="lnc"), "input_layout must be one of 'nlc', 'ncl', got 'lnc'"),
    (dict(n_channels=3), "n_channels=3 does not match the 2 channels of the 3-D input"),
])
def test_bad_parameters_fail_at_fit_naming_them(rng, params, message):
    with pytest.raises(ValueError, match=message):
        sk.SignatureTransformer(**params).fit(make_path(rng, (2, 8, 2)))


def test_paths_of_another_shape_are_refused_after_fit(rng):
    t = sk.SignatureTransformer(window_name="global").fit(make_path(rng, (2, 8, 2)))
    with pytest.raises(ValueError, match=r"\(length, channels\) = \(4, 4\), but SignatureTransformer was fitted on \(8, 2\)"):
        t.transform(make_path(rng, (2, 4, 4)))
    with pytest.raises(ValueError, match="X has 15 values per row, not a multiple of n_channels=2"):
        t.set_params(n_channels=2).fit(np.zeros((2, 15)))


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------


def test_signature_kernel_is_sig_kernel_gram_of_the_unflattened_paths(rng):
    x, y = make_path(rng, (4, 6, 2)), make_path(rng, (3, 6, 2))
    k = sk.SignatureKernel(n_channels=2, static_kernel="rbf", sigma=0.7, dyadic_order=1, time_aug=True)
    expected = sigrs.sig_kernel_gram(x, y, dyadic_order=1, static_kernel=sigrs.RBFKernel(0.7), time_aug=True)
    assert_close(k(x.reshape(4, -1), y.reshape(3, -1)), expected, 1e-12, "kernel")
    ncl = sk.SignatureKernel(n_channels=2, input_layout="ncl", static_kernel="rbf", sigma=0.7, time_aug=True)
    assert_close(ncl(x.transpose(0, 2, 1).reshape(4, -1), y.transpose(0, 2, 1).reshape(3, -1)), expected, 1e-12, "ncl")
    assert_close(k(x.reshape(4, -1)), sigrs.sig_kernel_gram(x, x, dyadic_order=1, static_kernel=sigrs.RBFKernel(0.7),
                                                            time_aug=True), 1e-12, "Y=None")


@pytest.mark.parametrize("name, params, instance", [
    ("linear", None, sigrs.LinearKernel()),
    ("scaled_linear", {"scale": 0.5}, sigrs.ScaledLinearKernel(0.5)),
    ("matern32", None, sigrs.Matern32Kernel(2.0)),
    ("rational_quadratic", {"alpha": 2.0}, sigrs.RationalQuadraticKernel(2.0, alpha=2.0)),
    ("polynomial", {"degree": 2.0}, sigrs.PolynomialKernel(degree=2.0)),
])
def test_static_kernels_by_name_are_the_sigrs_kernels(rng, name, params, instance):
    x = make_path(rng, (3, 5, 2))
    by_name = sk.SignatureGram(static_kernel=name, sigma=2.0, static_kernel_params=params, normalize=True).fit(x)
    by_instance = sk.SignatureGram(static_kernel=instance, normalize=True).fit(x)
    np.testing.assert_array_equal(by_name.transform(x), by_instance.transform(x))
    with pytest.raises(ValueError, match="static_kernel must be a sigrs.StaticKernel or one of 'linear'"):
        sk.SignatureGram(static_kernel="gauss").fit(x)
    with pytest.raises(ValueError, match="static_kernel_params .* do not fit static_kernel='linear'"):
        sk.SignatureGram(static_kernel_params={"sigma": 1.0}).fit(x)


def test_signature_gram_transforms_to_kernels_against_the_training_paths(rng):
    train, test = make_path(rng, (6, 7, 2)), make_path(rng, (4, 7, 2))
    g = sk.SignatureGram(dyadic_order=2, lead_lag=True, normalize=True).fit(train)
    expected = sigrs.sig_kernel_gram(test, train, dyadic_order=2, lead_lag=True, normalize=True)
    assert_close(g.transform(test), expected, 1e-12, "Gram")
    assert_close(g.fit_transform(train), g.transform(train), 1e-12, "fit_transform")
    assert g.get_feature_names_out().tolist() == [f"k{j}" for j in range(6)]
    with pytest.raises(ValueError, match="fitted on"):
        g.transform(make_path(rng, (4, 2, 7)))


def _two_classes(rng, n=24, length=10):
    """Random walks; class 1 drifts up its first channel."""
    x = make_path(rng, (n, length, 2))
    y = np.arange(n) % 2
    x[y == 1, :, 0] += np.linspace(0.0, 4.0, length)
    return x, y


def test_a_pipeline_of_gram_and_svc_cross_validates_and_grid_searches(rng):
    x, y = _two_classes(rng)
    model = Pipeline([("gram", sk.SignatureGram(static_kernel="rbf", dyadic_order=0, normalize=True)), ("svc", SVC(kernel="precomputed"))])
    scores = cross_val_score(model, x, y, cv=StratifiedKFold(3))
    assert scores.shape == (3,) and scores.mean() >= 0.8
    search = GridSearchCV(model, {"gram__sigma": [0.1, 1.0], "gram__time_aug": [False, True]}, cv=3).fit(x, y)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_.named_steps["gram"]
    assert (best.sigma, best.time_aug) == (search.best_params_["gram__sigma"], search.best_params_["gram__time_aug"])
    assert best.X_fit_.shape == (24, 10, 2)  # refit on all the data
    assert search.score(x, y) >= 0.8


def test_signature_kernel_drives_an_svc_and_its_parameters_are_searchable(rng):
    x, y = _two_classes(rng)
    flat = x.reshape(len(x), -1)
    kw = dict(static_kernel="rbf", dyadic_order=0, normalize=True)
    svc = SVC(kernel=sk.SignatureKernel(n_channels=2, **kw))
    scores = cross_val_score(svc, flat, y, cv=StratifiedKFold(3))
    assert scores.mean() >= 0.8
    gram = Pipeline([("gram", sk.SignatureGram(**kw)), ("svc", SVC(kernel="precomputed"))])
    np.testing.assert_array_equal(scores, cross_val_score(gram, x, y, cv=StratifiedKFold(3)))
    search = GridSearchCV(svc, {"kernel__sigma": [0.5, 2.0]}, cv=3).fit(flat, y)
    assert search.best_estimator_.kernel.sigma == search.best_params_["kernel__sigma"]
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        sk.SignatureKernel()(flat[0])
    # row by row, as pairwise_kernels (and KernelRidge) call a callable metric
    from sklearn.metrics.pairwise import pairwise_kernels

    k = svc.kernel
    assert_close(pairwise_kernels(flat[:3], flat[3:7], metric=k), k(flat[:3], flat[3:7]), 1e-12, "pairwise_kernels")


# ---------------------------------------------------------------------------
# scikit-learn's and sktime's estimator checks
# ---------------------------------------------------------------------------

ESTIMATORS = [
    sk.SignatureTransformer(window_name="global"),
    sk.SignatureTransformer(window_depth=1, sig_tfm="logsignature", logsig_method="lyndon"),
    sk.SignatureTransformer(window_name="sliding", window_length=2, window_step=1, rescaling="post", n_jobs=1),
    sk.SignatureGram(static_kernel="rbf"),
    sk.SignatureGram(normalize=True, time_aug=True),
]

# Checks that cannot apply, with the reason; none today. (scikit-learn feeds
# 2-D data, read as univariate series: every check applies to them.)
EXPECTED_FAILED_CHECKS: dict = {}


# The one check scipy gates on an environment variable it reads once, at import.
_ARRAY_API_CHECK = """
import pickle, sys
from sklearn.utils import estimator_checks
estimator, keywords = pickle.loads(sys.stdin.buffer.read())
estimator_checks.check_array_api_input(type(estimator).__name__, estimator, **keywords)
"""


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}))
def test_scikit_learn_estimator_checks(estimator, check):
    if getattr(check, "func", None) is not None and check.func.__name__ == "check_array_api_input":
        # It skips itself unless SCIPY_ARRAY_API=1 was set before scipy was
        # imported, so it runs in a fresh process that sets it.
        import pickle

        env = dict(os.environ, SCIPY_ARRAY_API="1", PYTHONPATH=os.pathsep.join(sys.path))
        keywords = {k: v for k, v in check.keywords.items()}
        done = subprocess.run([sys.executable, "-c", _ARRAY_API_CHECK], input=pickle.dumps((estimator, keywords)),
                              capture_output=True, env=env)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        return
    check(estimator)


def test_sktime_estimator_checks_pass():
    pytest.importorskip("sktime")
    from sktime.utils.estimator_checks import check_estimator

    from sigrs.sktime import SignatureTransformer

    results = check_estimator(SignatureTransformer, raise_exceptions=False, verbose=False)
    failed = {name: str(result)[:300] for name, result in results.items() if result != "PASSED"}
    assert len(results) > 100 and not failed


def test_sktime_transformer_gives_the_sklearn_features_by_name(rng):
    pytest.importorskip("sktime")
    from sigrs.sktime import SignatureTransformer

    X = make_path(rng, (5, 2, 12))
    params = dict(window_name="sliding", window_length=4, window_step=4, depth=3)
    frame = SignatureTransformer(**params).fit_transform(X)
    ours = sk.SignatureTransformer(input_layout="ncl", **params).fit(X)
    np.testing.assert_array_equal(np.asarray(frame), ours.transform(X))
    assert list(frame.columns) == list(ours.get_feature_names_out())
