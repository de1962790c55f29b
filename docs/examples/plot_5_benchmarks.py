"""
Performance against pysiglib, signatory and iisignature
=======================================================

``benches/compare.py`` times sigrs and its peers in one process, on the same
inputs, and checks that their outputs agree. This page draws a saved run
(``python benches/compare.py --quick --no-peak --repeat 3 --only ... --json ...``,
stored in
``docs/examples/data/compare_quick.json``); nothing is timed when the
documentation builds. Each bar is a peer's median time divided by sigrs's
on the same row: above 1, sigrs is faster.

The run was made with ``--quick`` (smaller batches than the full benchmark,
3 repeats) on a 2-core virtual machine shared with other work, so single
rows are noisy (a row where sigrs's one-thread time exceeds its all-cores
time by far more than 2x met a busy moment);
read the ratios, not the times, and rerun the script on your machine for
your own numbers. signatory's ratios in this run are well above those of the
README's full run (about 4-11x for signatures): its rows vary the most from
one run to the next here.
"""

# %%
# The saved run
# -------------

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

try:
    HERE = Path(__file__).resolve().parent
except NameError:       # run cell by cell (sphinx-gallery sets __file__)
    HERE = Path.cwd()
run = json.loads((HERE / "data" / "compare_quick.json").read_text())

machine = run["machine"]
print("machine:", machine.get("cpu_model"), f"({machine.get('cpu_count')} cores)")
print("libraries:", ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items() if v))
print("command line options:", {k: v for k, v in run["args"].items() if k in ("quick", "repeat", "only")})
for note in run["notes"]:
    print("note:", note)

PEERS = ("pysiglib", "signatory", "iisignature")
rows = []
for row in run["rows"]:
    results = row["results"]
    if results.get("sigrs", {}).get("status") != "ok":
        continue
    ratios = {p: results[p]["ratio"] for p in PEERS if results.get(p, {}).get("ratio") is not None}
    if ratios:
        rows.append((row["name"], str(row["jobs"]), results["sigrs"]["median_s"], ratios))
print(len(rows), "rows with at least one peer")

# %%
# The table
# ---------
# sigrs's median time and each peer's ratio (peer time / sigrs time).

print(f"{'workload':52s} {'jobs':>4s} {'sigrs':>10s} " + " ".join(f"{p:>11s}" for p in PEERS))
for name, jobs, t, ratios in rows:
    cells = " ".join(f"{ratios[p]:10.2f}x" if p in ratios else f"{'':11s}" for p in PEERS)
    print(f"{name:52s} {jobs:>4s} {t * 1e3:8.2f}ms {cells}")

# %%
# As a chart
# ----------
# One group of bars per row, on a log scale; the dashed line is parity.

fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.5))
y = np.arange(len(rows))
width = 0.8 / len(PEERS)
for k, peer in enumerate(PEERS):
    values = [r[3].get(peer, np.nan) for r in rows]
    ax.barh(y + (k - 1) * width, values, height=width, label=peer)
ax.axvline(1.0, color="k", ls="--", lw=0.8)
ax.set_xscale("log")
ax.set_yticks(y)
ax.set_yticklabels([f"{name} (jobs {jobs})" for name, jobs, _, _ in rows], fontsize=7)
ax.invert_yaxis()
ax.set_xlabel("peer time / sigrs time (log scale; > 1: sigrs is faster)")
ax.legend(loc="lower right")
fig.tight_layout()

# %%
# Summary per peer
# ----------------
# The geometric mean of the ratios over the rows each peer ran.

for peer in PEERS:
    values = np.array([r[3][peer] for r in rows if peer in r[3]])
    if len(values):
        print(f"{peer:12s}: {len(values):2d} rows, geometric mean {np.exp(np.log(values).mean()):5.2f}x, "
              f"range {values.min():.2f}x to {values.max():.2f}x")
