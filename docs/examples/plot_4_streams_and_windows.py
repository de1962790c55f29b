"""
Streams and sliding windows
===========================

Data that arrives point by point, and questions about pieces of it:
:class:`sigrs.SigStream` keeps the signature of every prefix of a growing
path, so the signature of any interval of points is one Chen product away
(``S(a, b) = S(0, a)^-1 (x) S(0, b)``), never a pass over the points again.
:class:`sigrs.SigWindowStream` emits the signatures of sliding windows as
points arrive, at a cost per point that does not grow with the window.

The data: two channels in which, for the first half, channel 1 follows
channel 0 a few steps late; then the link breaks. The signed area between
the channels (their Lévy area, from the signature's second level) is
positive while one leads the other, and wanders around 0 afterwards.
"""

# %%
# A stream that arrives in pieces
# -------------------------------

import matplotlib.pyplot as plt
import numpy as np

import sigrs

rng = np.random.default_rng(0)
n, lag = 4000, 5
leader = np.cumsum(rng.standard_normal(n)) * 0.05
follower = np.empty(n)
follower[: n // 2] = np.roll(leader, lag)[: n // 2]
follower[:lag] = leader[0]
follower[n // 2:] = follower[n // 2 - 1] + np.cumsum(rng.standard_normal(n - n // 2)) * 0.05
path = np.stack([leader, follower], axis=1)            # (length, 2)

stream = sigrs.SigStream(2, 3)
for piece in np.array_split(path, 40):                   # 40 arrivals of 100 points
    stream.push_batch(piece)
print("points in the stream:", stream.size, " last index:", stream.end_index)

# %%
# Interval queries
# ----------------
# ``stream.sig(a, b)`` is the signature of points ``a..b`` (both included),
# the same as ``sigrs.sig(path[a:b + 1], 3)``; ``sig_batch`` answers many
# intervals in one batched call.

a, b = 1200, 2600
print("one query equals a fresh signature:", np.allclose(stream.sig(a, b), sigrs.sig(path[a:b + 1], 3)))

starts = rng.integers(0, n - 200, size=1000)
intervals = [(int(s), int(s) + 199) for s in starts]
many = stream.sig_batch(intervals)                        # (1000, sig_len)
direct = sigrs.sig(np.stack([path[s:e + 1] for s, e in intervals]), 3)
print("1000 queries:", many.shape, " equal to recomputing them to 1e-12:", bool(np.abs(many - direct).max() < 1e-12))

# %%
# Sliding windows
# ---------------
# Windows of 200 points every 20 points. The Lévy area of each window is
# half the difference of its level-2 terms at the words (0, 1) and (1, 0).

windows = sigrs.SigWindowStream(2, 3, window_size=200, stride=20)
for piece in np.array_split(path, 40):
    windows.push_batch(piece)                             # emits the windows each piece completes
W = windows.sig()                                         # (num_windows, sig_len)
area = 0.5 * (W[:, sigrs.word_to_idx((0, 1), 2)] - W[:, sigrs.word_to_idx((1, 0), 2)])
window_end = 199 + 20 * np.arange(len(W))
print("windows:", W.shape)
print(f"mean Lévy area per window: first half {area[window_end < n // 2].mean():+.4f}, "
      f"second half {area[window_end >= n // 2 + 200].mean():+.4f}")

fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
axes[0].plot(path[:, 0], lw=0.8, label="channel 0 (leader)")
axes[0].plot(path[:, 1], lw=0.8, label="channel 1")
axes[0].axvline(n // 2, color="k", ls=":")
axes[0].legend(loc="upper left")
axes[1].plot(window_end, area, ".-", ms=3)
axes[1].axhline(0, color="0.6", lw=0.8)
axes[1].axvline(n // 2, color="k", ls=":")
axes[1].set_xlabel("index of the window's last point")
axes[1].set_ylabel("Lévy area of the window")
fig.tight_layout()

# %%
# Forgetting old points
# ---------------------
# A long-running stream can drop what it no longer needs:
# ``pop_front(k)`` forgets the oldest ``k`` points (indices stay absolute).

stream.pop_front(3000)
print("kept points:", stream.size, " first index:", stream.start_index)
print("a query on what is left:", np.allclose(stream.sig(3500, 3999), sigrs.sig(path[3500:4000], 3)))
