"""Train the escalation detector's linear backstop on the development set.

Reads ``tests/data/escalation_dev.jsonl`` (never the shared eval file or the
hold-out set) and writes ``appliance/escalation/model.npz``. Training is
deterministic: the same data gives the same weights.

    PYTHONPATH=. python scripts/train_escalation_model.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from appliance.escalation.linear import MODEL_PATH, train
from appliance.escalation.results import LABELS, Label

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=REPO / "tests/data/escalation_dev.jsonl")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text("utf-8").splitlines() if line]
    texts = [r["text"] for r in rows]
    labels: list[Label] = []
    for r in rows:
        if r["label"] not in LABELS:
            raise SystemExit(f"unknown label {r['label']!r} in {args.data}")
        labels.append(r["label"])
    started = time.perf_counter()
    model = train(texts, labels)
    model.save(args.out)
    print(
        f"trained on {len(texts)} utterances, {len(model.rows)} features, "
        f"{time.perf_counter() - started:.1f} s -> {args.out} ({args.out.stat().st_size} bytes)"
    )


if __name__ == "__main__":
    main()
