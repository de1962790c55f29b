"""sigrs demo: signatures of a batch of paths and their gradients, with timings.

Run with `scripts/demo.sh` (which builds sigrs first) or `python examples/demo.py`.
"""

import time

import numpy as np
import torch

import sigrs


def timed(label, fn, repeat=5):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    print(f"  {label:<46} {1e3 * np.median(times):8.2f} ms")
    return out


def main():
    print(f"sigrs {sigrs.__version__}; {sigrs.cuda_status()}")

    # Built-in data: noisy sine/cosine paths (a batch of 2-d curves).
    rng = np.random.default_rng(0)
    batch, length, degree = 256, 500, 4
    t = np.linspace(0.0, 2.0 * np.pi, length)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(batch, 1))
    paths = np.stack([np.sin(t + phase), np.cos(2 * t + phase)], axis=-1)
    paths += 0.05 * rng.standard_normal(paths.shape)

    print(f"\nsignatures of {batch} paths of length {length} in dimension 2, degree {degree}:")
    sigs = timed("sig (NumPy, all cores)", lambda: sigrs.sig(paths, degree))
    print(f"  output shape {sigs.shape}; first path, level 1 = {np.round(sigs[0, :2], 4)}")
    print(f"  level-1 terms equal the total increments: {np.allclose(sigs[:, :2], paths[:, -1] - paths[:, 0])}")
    timed("sig with time_aug + lead_lag", lambda: sigrs.sig(paths, degree, time_aug=True, lead_lag=True))
    # The signature of a straight line is exp of its increment: level 2 of (a, b) is (a, b)^2 / 2.
    line = sigrs.sig(np.array([[0.0, 0.0], [1.0, 3.0]]), 2)
    print(f"  straight line (0,0)->(1,3): {line}")

    print("\ngradients through torch autograd:")
    x = torch.tensor(paths, requires_grad=True)

    def forward_backward():
        x.grad = None
        loss = sigrs.sig(x, degree).pow(2).sum()
        loss.backward()
        return loss

    loss = timed("sig + backward (torch)", forward_backward)
    print(f"  loss {loss.item():.4f}; x.grad shape {tuple(x.grad.shape)}")

    # Check one gradient entry against a central finite difference.
    i, j, c, h = 3, 100, 1, 1e-6
    bumped = paths.copy()
    bumped[i, j, c] += h
    up = (sigrs.sig(bumped, degree) ** 2).sum()
    bumped[i, j, c] -= 2 * h
    down = (sigrs.sig(bumped, degree) ** 2).sum()
    print(f"  dloss/dx[{i},{j},{c}]: autograd {x.grad[i, j, c].item():.6f}, finite difference {(up - down) / (2 * h):.6f}")


if __name__ == "__main__":
    main()
