"""Draw curve.png from pretraining.csv: 1-shot accuracy of the mixture-trained tiny baseline against its tokens.

Run from the repository root: `python results/calibration/plot_curve.py`.
"""

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent
TASKS = {"induction": "induction copy", "va_d0_math": "var. assign. d0 math", "va_d0_code": "var. assign. d0 code"}

rows = list(csv.DictReader((HERE / "pretraining.csv").open()))
chance = rows[0]
curve = [row for row in rows if row["mixture"] == "induction + d0"]
figure, axis = plt.subplots(figsize=(6.4, 4.0))
for (column, label), colour in zip(TASKS.items(), ("C0", "C1", "C2")):
    tokens = [int(row["tokens"]) / 1e6 for row in curve]
    axis.plot(tokens, [100 * float(row[column]) for row in curve], "o-", color=colour, label=label)
    axis.axhline(100 * float(chance[column]), color=colour, linestyle="--", linewidth=1)
axis.set_xlabel("pretraining tokens (millions; half of them primitive examples)")
axis.set_ylabel("1-shot accuracy % (50 test items)")
axis.set_title("tiny baseline + 50% mixture of induction and depth-0 examples\n(dashed: chance)", fontsize=10)
axis.set_ylim(0, 30)
axis.legend(fontsize=8)
figure.tight_layout()
figure.savefig(HERE / "curve.png", dpi=120)
