"""
A log-signature model trained with torch autograd
=================================================

A small model in the style of deep signature models: a learned linear map
mixes the channels of each point of the path, :func:`sigrs.log_sig` turns the
mixed path into a fixed-size feature vector, and a linear layer reads the
answer off it. Gradients flow through the log-signature back to the mixing
layer, so the model learns *which* path to take the log-signature of.

The target is the signed area (Lévy area) swept by the two-dimensional path
``(x0 + x2, x1)``: a model that finds that mixing and the area coordinate of
the log-signature fits it exactly. It runs on the CPU in a few seconds.
"""

# %%
# Data
# ----
# Random walks in three dimensions, ``(batch, length, 3)``, in float64.

import matplotlib.pyplot as plt
import numpy as np
import torch

import sigrs

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def levy_area(path2d):
    """The Lévy area of ``(batch, length, 2)`` paths, from the level-2 signature."""
    s = sigrs.sig(path2d, 2)
    return 0.5 * (s[..., sigrs.word_to_idx((0, 1), 2)] - s[..., sigrs.word_to_idx((1, 0), 2)])


def make_data(n, length=32):
    x = torch.cumsum(torch.randn(n, length, 3) / np.sqrt(length), dim=1)
    mixed = torch.stack([x[..., 0] + x[..., 2], x[..., 1]], dim=-1)
    return x, levy_area(mixed)


x_train, y_train = make_data(512)
x_test, y_test = make_data(256)
print("train paths:", tuple(x_train.shape), " targets:", tuple(y_train.shape))

# %%
# The model
# ---------
# ``log_sig(..., method="lyndon")`` gives the coordinates in the Lyndon basis:
# for a two-dimensional path to degree 3, ``sigrs.log_sig_length(2, 3)`` = 5
# numbers (the increments, the area, and two degree-3 brackets).


class LogSigModel(torch.nn.Module):
    def __init__(self, in_channels, hidden_channels, degree):
        super().__init__()
        self.degree = degree
        self.mix = torch.nn.Linear(in_channels, hidden_channels, bias=False)
        self.head = torch.nn.Linear(sigrs.log_sig_length(hidden_channels, degree), 1)

    def forward(self, x):
        features = sigrs.log_sig(self.mix(x), self.degree, method="lyndon")   # (batch, 5)
        return self.head(features).squeeze(-1)


model = LogSigModel(in_channels=3, hidden_channels=2, degree=3)
print("log-signature features:", sigrs.log_sig_length(2, 3))
print("parameters:", sum(p.numel() for p in model.parameters()))

# %%
# Training
# --------
# Plain full-batch Adam: every step runs ``log_sig`` forward and its
# backward (sigrs's explicit gradient, called by autograd).

optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
losses = []
for step in range(1, 81):
    optimiser.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x_train), y_train)
    loss.backward()
    optimiser.step()
    losses.append(loss.item())
    if step % 10 == 0:
        print(f"step {step:3d}: training MSE {loss.item():.5f}")

with torch.no_grad():
    prediction = model(x_test)
    test_mse = torch.nn.functional.mse_loss(prediction, y_test).item()
print(f"test MSE {test_mse:.5f}  (predicting the mean: {y_test.var().item():.5f})")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
axes[0].semilogy(np.arange(1, len(losses) + 1), losses)
axes[0].set_xlabel("step")
axes[0].set_ylabel("training MSE")
axes[1].scatter(y_test.numpy(), prediction.numpy(), s=6)
lim = float(y_test.abs().max())
axes[1].plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
axes[1].set_xlabel("true Lévy area")
axes[1].set_ylabel("predicted")
fig.tight_layout()

# %%
# What it learned
# ---------------
# The area of ``(a, b)`` is bilinear in the two channels, so any mixing whose
# rows span the same plane as ``(x0 + x2)`` and ``x1`` works, rescaled by the
# head. Normalised, the learned rows should lie in the span of
# ``(1, 0, 1)`` and ``(0, 1, 0)``: their third entry matches their first.

print("learned mixing (rows):")
print(np.round(model.mix.weight.detach().numpy(), 3))
