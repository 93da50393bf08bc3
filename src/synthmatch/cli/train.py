"""`synthmatch train estimator`: train the learned estimator, resumably, and export it for inference.

torch is imported only when the command runs (it is in the ``train`` extra). Data-parallel over
processes: ``torchrun --nproc_per_node N -m synthmatch train estimator ...``
(:mod:`synthmatch.train.distributed`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from synthmatch.cli.args import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from synthmatch.models.configs import config_names

    p = sub.add_parser("train", help="train models (needs the 'train' extra: torch)")
    tsub = p.add_subparsers(dest="train_command", metavar="SUBCOMMAND")
    e = tsub.add_parser(
        "estimator",
        help="train the audio → preset estimator and export it (ONNX, model card, wavetables)",
        description=(
            "Train the estimator on a dataset (built first with the config's data settings if the folder "
            "does not exist), with a validation split, per-epoch metrics (OUT/metrics.jsonl) and resumable "
            "checkpoints (OUT/checkpoint.pt); then export OUT/estimator.onnx, OUT/wavetables.npz and the "
            "model card. The run is tracked with MLflow when it is installed (parameters, per-epoch metrics, "
            "the model card and the exported model; a local store in OUT/mlruns unless --tracking-uri)."
        ),
    )
    e.add_argument(
        "--config",
        default="small",
        help=f"named config ({', '.join(config_names())}) or a JSON file of one (default: small)",
    )
    e.add_argument("--dataset", required=True, help="dataset folder (built when missing)")
    e.add_argument("--out", required=True, help="run folder: checkpoint, metrics, exported model")
    e.add_argument("--epochs", type=positive_int, default=None, help="total epochs (default: the config's)")
    e.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    e.add_argument(
        "--workers", type=positive_int, default=None, help="render workers when building the dataset"
    )
    e.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch CPU threads (default: the config's, 1 for debug and small: beside other busy "
        "processes two threads spin on each other and train several times slower)",
    )
    e.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    track = e.add_mutually_exclusive_group()
    track.add_argument(
        "--tracking-uri",
        default=None,
        metavar="URI",
        help="MLflow tracking URI, e.g. http://host:5000 (default: a local store, sqlite:///OUT/mlruns/mlflow.db, "
        "when mlflow is installed)",
    )
    track.add_argument("--no-tracking", action="store_true", help="do not track the run with MLflow")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(func=run_estimator)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


class _Bars:
    """tqdm bars driven by the training progress callback (one per epoch, one for a dataset build)."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar: Any = None
        self.key: tuple[str, int] | None = None

    def __call__(self, p: Any) -> None:
        key = (p.phase, p.epoch)
        if key != self.key:
            self.close()
            self.key = key
            desc = {
                "build": "dataset build",
                "train": f"epoch {p.epoch + 1}/{p.epochs}",
                "val": f"validation {p.epoch + 1}/{p.epochs}",
                "export": "export",
            }[p.phase]
            self.bar = self._tqdm(
                total=p.batches,
                desc=desc,
                unit="batch" if p.phase == "train" else "item",
                file=sys.stderr,
                leave=p.phase == "train",
            )
        if p.phase in ("train", "build"):
            if p.phase == "train":
                self.bar.set_postfix(loss=f"{p.loss:.3f}", refresh=False)
            self.bar.update(p.batch - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_estimator(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        from synthmatch.errors import MissingExtraError

        raise MissingExtraError("torch", "train", "training the estimator") from None
    from synthmatch.train.estimator import train_estimator
    from synthmatch.train.tracking import TRACKING_FILE

    main_process = int(os.environ.get("RANK", "0")) == 0  # torchrun: rank 0 reports
    bars = None if args.no_progress or not main_process else _Bars()
    try:
        result = train_estimator(
            config=args.config,
            dataset=args.dataset,
            out=args.out,
            epochs=args.epochs,
            resume=args.resume,
            progress=bars,
            workers=args.workers,
            threads=args.threads,
            device=args.device,
            tracking="none" if args.no_tracking else None,
            tracking_uri=args.tracking_uri,
        )
    finally:
        if bars is not None:
            bars.close()
    if not main_process:
        return 0
    card = result.card
    val = card["metrics"].get("val", {}) if card.get("metrics") else {}
    print(f"trained {result.epochs_run} epoch(s) in {result.seconds:.0f} s; model in {result.out}")
    print(
        f"  {result.onnx.name}: {card['onnx']['bytes'] / 1e6:.2f} MB, {card['parameters']:,} weights; "
        f"wavetables.npz: {card['wavetables']['tables']} tables, {card['wavetables']['bytes'] / 1e6:.2f} MB"
    )
    tracked = result.out / TRACKING_FILE
    if not args.no_tracking and tracked.is_file():
        doc = json.loads(tracked.read_text())
        print(f"  MLflow run {doc['run_id']} in {doc['uri']}")
    if val:
        shown = ("loss", "cont_mae", "cat_acc", "wt_acc", "mod_precision", "mod_recall", "order_kendall_tau")
        print("  validation: " + ", ".join(f"{k} {val[k]:.4g}" for k in shown if val.get(k) is not None))
    return 0
