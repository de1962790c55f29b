"""
Signature features for time-series classification
==================================================

Two classes of noisy two-dimensional loops that differ only in the direction
they turn: class 0 runs clockwise, class 1 anticlockwise. Radius, phase,
speed and noise are random, and every loop ends near where it started, so
the points themselves (or their mean and spread) say little about the
class. The second level of the signature holds the signed area the path
encloses (the Lévy area), which is exactly what separates the classes.

The features go into a scikit-learn :class:`~sklearn.pipeline.Pipeline`
through a :class:`~sklearn.preprocessing.FunctionTransformer` (signatures
need no fitting), then through :class:`sigrs.sklearn.SignatureTransformer`
with windows. Everything is seeded, so running this script gives the
numbers printed below.
"""

# %%
# A synthetic data set
# --------------------
# ``make_loops`` draws ``n`` paths of ``length`` points, shaped
# ``(n, length, 2)`` as sigrs expects (batch, length, dimension).

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import sigrs


def make_loops(n, length, rng):
    """Noisy loops: label 0 turns clockwise, label 1 anticlockwise."""
    labels = rng.integers(0, 2, size=n)
    direction = np.where(labels == 1, 1.0, -1.0)[:, None]
    t = np.linspace(0.0, 1.0, length)[None, :]
    speed = rng.uniform(0.7, 1.3, size=(n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    radius = rng.uniform(0.2, 1.2, size=(n, 1))
    angle = phase + direction * 2 * np.pi * speed * t
    paths = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    paths += 0.4 * rng.standard_normal(paths.shape)
    return paths, labels


rng = np.random.default_rng(0)
X, y = make_loops(600, 60, rng)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
print("paths:", X.shape, " train:", X_train.shape[0], " test:", X_test.shape[0])

fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
for label, ax in enumerate(axes):
    for path in X[y == label][:5]:
        ax.plot(path[:, 0], path[:, 1], lw=1)
        ax.plot(path[0, 0], path[0, 1], "k.", ms=6)
    ax.set_title(["class 0: clockwise", "class 1: anticlockwise"][label])
    ax.set_aspect("equal")
fig.tight_layout()

# %%
# A baseline without signatures
# -----------------------------
# The mean and standard deviation of each channel, fed to the same
# classifier: about as good as a coin.


def moments(paths):
    return np.concatenate([paths.mean(axis=1), paths.std(axis=1)], axis=1)


baseline = Pipeline([
    ("features", FunctionTransformer(moments)),
    ("scale", StandardScaler()),
    ("classify", LogisticRegression(max_iter=1000)),
])
baseline.fit(X_train, y_train)
print(f"moments + logistic regression: test accuracy {baseline.score(X_test, y_test):.3f}")

# %%
# Signature features
# ------------------
# :func:`sigrs.sig` to degree 3 with time augmentation (time as a third
# channel, so the features also see how fast the path moves):
# ``sigrs.sig_length(2, 3, time_aug=True)`` = 39 features per path.

sig_features = FunctionTransformer(sigrs.sig, kw_args={"degree": 3, "time_aug": True})
model = Pipeline([
    ("signature", sig_features),
    ("scale", StandardScaler()),
    ("classify", LogisticRegression(max_iter=1000)),
])
model.fit(X_train, y_train)
print("features per path:", sigrs.sig_length(2, 3, time_aug=True))
print(f"signature + logistic regression: test accuracy {model.score(X_test, y_test):.3f}")

# %%
# What the classifier uses
# ------------------------
# The Lévy area of channels 0 and 1 is half the difference of the level-2
# terms for the words ``(0, 1)`` and ``(1, 0)``; :func:`sigrs.word_to_idx`
# finds them in the flat signature (with time augmentation the dimension
# is 3). Its sign is the direction of turning.

S = sigrs.sig(X, 3, time_aug=True)
area = 0.5 * (S[:, sigrs.word_to_idx((0, 1), 3)] - S[:, sigrs.word_to_idx((1, 0), 3)])
print(f"mean Lévy area: class 0 {area[y == 0].mean():+.3f}, class 1 {area[y == 1].mean():+.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(area.min(), area.max(), 40)
ax.hist(area[y == 0], bins=bins, alpha=0.6, label="class 0 (clockwise)")
ax.hist(area[y == 1], bins=bins, alpha=0.6, label="class 1 (anticlockwise)")
ax.set_xlabel("Lévy area, from the signature's second level")
ax.set_ylabel("paths")
ax.legend()
fig.tight_layout()

# %%
# The same through ``sigrs.sklearn``
# ----------------------------------
# :class:`sigrs.sklearn.SignatureTransformer` is sktime's signature method
# as a scikit-learn transformer: augmentations (here time, as a first
# channel), windows (here the whole path and its halves: dyadic windows of
# depth 1) and the signature of each window, all from one stream of prefix
# signatures per path. ``set_output(transform="pandas")`` names each column
# by its window and word.

from sigrs.sklearn import SignatureTransformer

windows = SignatureTransformer(augmentation_list=("addtime",), window_name="dyadic", window_depth=1, depth=3)
model = Pipeline([
    ("signature", windows),
    ("scale", StandardScaler()),
    ("classify", LogisticRegression(max_iter=1000)),
])
model.fit(X_train, y_train)
names = windows.get_feature_names_out()
print(f"{len(names)} features per path, from {names[0]!r} to {names[-1]!r}")
print(f"windowed signatures + logistic regression: test accuracy {model.score(X_test, y_test):.3f}")
