"""Writes data/digits_0to4_cnn.pt: jobs/digits_transfer.yaml's model trained on digits 0-4 (its transfer source).

Run from the repository root: `python jobs/data/make_digits_0to4_cnn.py` (about a minute on a laptop CPU).
"""

from __future__ import annotations

from pathlib import Path

import torch

from trainworks.engine.assemble import build_parts, loop_settings
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.loop import fit
from trainworks.runtime.job import prepare_job_data
from trainworks.spec import load_spec

HERE = Path(__file__).resolve().parent
PRETRAIN = ["data.dataset.labels=[0, 1, 2, 3, 4]", "data.val_fraction=0.2", "strategy=standard",
            "optimizer.lr=0.003", "training.batch_size=32", "training.epochs=15"]


class Quiet:
    """Keeps nothing: only the final weights matter here."""

    def epoch_end(self, record, save) -> None:
        print(f"epoch {record.epoch}: val_accuracy {record.metrics['val_accuracy']:.3f}")

    def fit_end(self, save) -> None:
        pass


def main() -> None:
    spec = load_spec(HERE.parent / "digits_transfer.yaml", PRETRAIN)
    data = prepare_job_data(spec)
    parts = build_parts(spec, data, torch.device("cpu"))
    fit(parts, loop_settings(spec), SingleProcess(), Quiet())
    torch.save(parts.model.state_dict(), HERE / "digits_0to4_cnn.pt")


if __name__ == "__main__":
    main()
