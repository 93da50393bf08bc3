"""Train the learned estimator: ``synthmatch train estimator`` as a library call (torch).

:func:`train_estimator` builds the dataset if its folder is missing (the existing builder, with
the config's :class:`~synthmatch.models.configs.DataConfig`), splits it by item-index hash
(:mod:`synthmatch.train.split`), builds the wavetable vocabulary from the training split, trains
with per-epoch validation, writes ``metrics.jsonl`` (one JSON object per epoch) and a resumable
``checkpoint.pt`` (after every epoch and every ``checkpoint_every_s`` seconds), keeps the weights
of the epoch with the lowest validation loss in ``best.pt``, and exports those as
``estimator.onnx``, with ``wavetables.npz``, ``model_card.json`` and ``model_card.md``
(:mod:`synthmatch.models.export`; the card's metrics are that epoch's).

Each run is tracked (:mod:`synthmatch.train.tracking`): with MLflow by default (a local store in
``OUT/mlruns``), the config and the data provenance as parameters, each epoch's metrics, the model
card and the exported model as artifacts.

A killed run resumes with ``resume=True`` (``--resume``): the same epoch plan is rebuilt from
``(seed, epoch)`` and the batches already trained are skipped, so a resumed run sees the same
batches in the same order as an uninterrupted one.

Started by ``torchrun`` with several processes, the run is data-parallel
(:mod:`synthmatch.train.distributed`): process ``k`` of ``N`` trains batches ``k, k + N, …`` of
the same plan (the batches that do not fill a last round are left out of that epoch), and rank 0
validates, writes and exports. A run resumes only with as many processes as it started with.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import pathlib
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from synthmatch.data import build_dataset, open_dataset
from synthmatch.data.reader import Dataset
from synthmatch.data.shards import MANIFEST
from synthmatch.errors import DatasetError, ParameterError, SynthmatchError
from synthmatch.models.builders import (
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
    count_parameters,
)
from synthmatch.models.checkpoint import load_checkpoint, save_checkpoint
from synthmatch.models.configs import EstimatorConfig, get_config
from synthmatch.models.export import (
    CARD_JSON,
    CARD_MD,
    ONNX_FILE,
    WAVETABLES_FILE,
    export_onnx,
    json_safe,
    onnx_max_difference,
    write_model_card,
)
from synthmatch.models.layout import EstimatorLayout, wavetable_classes
from synthmatch.models.losses import GROUPS, EstimatorLoss, batch_metrics, finish_metrics
from synthmatch.models.network import as_dict
from synthmatch.models.vocab import build_wavetable_vocab, item_wavetable_keys, save_wavetables
from synthmatch.render.probe import DEFAULT_PROBE, NOTE_OFF_MARGIN_S
from synthmatch.train.data import BatchReader, curriculum_limit, epoch_plan
from synthmatch.train.distributed import World, all_finite, all_sum, barrier, close, init_world, wrap
from synthmatch.train.split import is_validation
from synthmatch.train.tracking import Tracker, flatten, make_tracker

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
#: The weights of the epoch with the lowest validation loss so far: what is exported.
BEST = "best.pt"
METRICS = "metrics.jsonl"
CONFIG_FILE = "config.json"


@dataclass
class TrainProgress:
    """What :func:`train_estimator` reports to its progress callback (raising from it cancels)."""

    phase: Literal["build", "train", "val", "export"]
    epoch: int
    epochs: int
    batch: int
    batches: int
    step: int
    loss: float = float("nan")


ProgressCallback = Callable[[TrainProgress], None]


@dataclass
class TrainResult:
    out: pathlib.Path
    onnx: pathlib.Path
    checkpoint: pathlib.Path
    card: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_run: int = 0
    seconds: float = 0.0


def resolve_config(config: EstimatorConfig | str | os.PathLike[str]) -> EstimatorConfig:
    """A config object, a named config (``debug``, ``small``, ``large``) or a JSON file of one."""
    if isinstance(config, EstimatorConfig):
        return config
    text = str(config)
    if text.endswith(".json") or os.sep in text:
        p = pathlib.Path(text)
        if not p.exists():
            raise ParameterError(f"config file {p} does not exist")
        return EstimatorConfig.from_dict(json.loads(p.read_text()))
    return get_config(text)


def _build_missing(
    path: pathlib.Path,
    cfg: EstimatorConfig,
    *,
    workers: int | None,
    build_options: Mapping[str, Any] | None,
    progress: ProgressCallback | None,
) -> None:
    d = cfg.data
    render_s = float(d.render_seconds)
    probe = DEFAULT_PROBE.replace(
        render_seconds=render_s, note_seconds=min(DEFAULT_PROBE.note_seconds, render_s - NOTE_OFF_MARGIN_S)
    )
    opts: dict[str, Any] = {
        "sampler": d.sampler,
        "seed": d.seed,
        "probe": probe,
        "probe_sampler": d.probe_sampler,
        "shard_size": d.shard_size,
    }
    opts.update(build_options or {})
    if "executor" not in opts:
        opts["workers"] = workers
    log.info(
        "dataset %s is missing: building %d items (%s sampler, %s probes)",
        path,
        d.n_items,
        d.sampler,
        d.probe_sampler,
    )

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(TrainProgress("build", 0, cfg.train.epochs, done, total, 0))

    build_dataset(path, n=d.n_items, progress=report, **opts)


def _provenance(ds: Dataset, cfg: EstimatorConfig, n_train: int, n_val: int) -> dict[str, Any]:
    m = ds.manifest
    return {
        "dataset": str(ds.root),
        "manifest_spec_hash": m.get("spec_hash"),
        "status": m.get("status"),
        "items": len(ds),
        "requested": m.get("n"),
        "seed": m.get("seed"),
        "sampler": m.get("sampler", {}).get("name"),
        "sampler_config": m.get("sampler", {}).get("config"),
        "probe_sampler": m.get("probe_sampler", {}).get("name"),
        "probe": m.get("probe"),
        "features": m.get("features"),
        "val_fraction": cfg.data.val_fraction,
        "split_salt": cfg.data.split_salt,
        "train_items": n_train,
        "val_items": n_val,
    }


def _same_data(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    keys = ("manifest_spec_hash", "seed", "sampler", "sampler_config", "probe_sampler", "probe", "features")
    differ = [k for k in keys if a.get(k) != b.get(k)]
    return differ + (["processes"] if a.get("processes", 1) != b.get("processes", 1) else [])


def _tensors(batch: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in batch.items()}


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loss_fn: EstimatorLoss,
    reader: BatchReader,
    positions: np.ndarray,
    *,
    batch_size: int,
    device: torch.device,
) -> dict[str, float]:
    """Validation loss (total and per head) and metrics (:func:`~synthmatch.models.losses.batch_metrics`)."""
    if not len(positions):
        return {}
    model.eval()
    loss_sum = {g: 0.0 for g in ("loss", *GROUPS)}
    sums: dict[str, float] = {}
    n = 0
    for pos in epoch_plan(reader, positions, batch_size=batch_size, seed=0, epoch=0, shuffle=False):
        t = _tensors(reader.batch(pos), device)
        out = as_dict(model(t["mel"], t["probe"]))
        total, parts = loss_fn(out, t)
        b = len(pos)
        loss_sum["loss"] += float(total) * b
        for g in GROUPS:
            loss_sum[g] += float(parts[g]) * b
        for k, v in batch_metrics(out, t, reader.layout).items():
            sums[k] = sums.get(k, 0.0) + v
        n += b
    return {**{k: v / n for k, v in loss_sum.items()}, **finish_metrics(sums)}


def train_estimator(
    *,
    config: EstimatorConfig | str,
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    epochs: int | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    threads: int | None = None,
    build_options: Mapping[str, Any] | None = None,
    command: str | None = None,
    device: str = "cpu",
    tracking: str | None = None,
    tracking_uri: str | None = None,
) -> TrainResult:
    """Train (or resume) an estimator and export it (see the module docstring).

    Parameters
    ----------
    config : EstimatorConfig or str
        A config, a name (``debug``, ``small``, ``large``) or a JSON file.
    dataset : path
        The dataset folder; built with the config's data settings when it does not exist.
    out : path
        The run folder (checkpoint, metrics, exported model).
    epochs : int, optional
        Overrides the config's number of epochs (the total, counting epochs already trained).
    resume : bool
        Continue the checkpoint in ``out``. Without it, a run folder holding a checkpoint is refused.
    progress : callable, optional
        Called with :class:`TrainProgress` after each batch; raising from it stops the run
        (the last checkpoint stays).
    workers : int, optional
        Render workers when the dataset has to be built.
    threads : int, optional
        torch CPU threads (default: the config's). On a machine shared with other busy
        processes one thread is much faster than two (threads that wait on each other spin).
    build_options : mapping, optional
        Extra options of :func:`synthmatch.data.build_dataset` when the dataset is built (e.g. ``probe``).
    command : str, optional
        The command line recorded in the model card (default: the equivalent CLI command).
    device : str
        torch device ("cpu", "cuda").
    tracking : str, optional
        Experiment tracker (:data:`synthmatch.train.tracking.TRACKERS`: ``"mlflow"``, ``"none"``).
        Default: MLflow when it is installed, else none with a notice.
    tracking_uri : str, optional
        MLflow tracking URI (default: ``sqlite:///OUT/mlruns/mlflow.db``); giving one asks for MLflow.
    """
    t_start = time.monotonic()
    cfg = resolve_config(config)
    if epochs is not None:
        if epochs < 1:
            raise ParameterError(f"epochs must be >= 1, got {epochs}")
        cfg = cfg.replace(train=cfg.train.replace(epochs=int(epochs)))
    out_dir = pathlib.Path(out)
    ckpt_path = out_dir / CHECKPOINT
    if ckpt_path.exists() and not resume:
        raise SynthmatchError(
            f"{out_dir} already holds a training run ({CHECKPOINT}). Hint: pass --resume to continue it, "
            "or choose another --out."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    world = init_world(device)
    tracker = Tracker()
    try:
        tracker = make_tracker(tracking, uri=tracking_uri, out=out_dir, main=world.main)
        result = _train(
            cfg,
            pathlib.Path(dataset),
            out_dir,
            world,
            resume=resume,
            progress=progress,
            workers=workers,
            threads=threads,
            build_options=build_options,
            command=command,
            t_start=t_start,
            tracker=tracker,
        )
        tracker.finish("FINISHED")
        return result
    except BaseException as exc:
        tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    finally:
        close(world)


def _train(
    cfg: EstimatorConfig,
    ds_path: pathlib.Path,
    out_dir: pathlib.Path,
    world: World,
    *,
    resume: bool,
    progress: ProgressCallback | None,
    workers: int | None,
    threads: int | None,
    build_options: Mapping[str, Any] | None,
    command: str | None,
    t_start: float,
    tracker: Tracker,
) -> TrainResult:
    ckpt_path = out_dir / CHECKPOINT
    report = progress if world.main else None
    if not (ds_path / MANIFEST).exists():
        if world.main:
            _build_missing(ds_path, cfg, workers=workers, build_options=build_options, progress=report)
        barrier(world)
    ds = open_dataset(ds_path)
    if not ds.complete and world.main:
        log.warning(
            "dataset %s is not complete (%s): training on its %d items in complete shards",
            ds_path,
            ds.manifest.get("status"),
            len(ds),
        )
    torch.set_num_threads(int(threads or cfg.train.threads))
    torch.manual_seed(cfg.train.seed)
    dev = torch.device(world.device)

    val_mask = is_validation(ds.indices(), fraction=cfg.data.val_fraction, salt=cfg.data.split_salt)
    train_pos, val_pos = np.nonzero(~val_mask)[0], np.nonzero(val_mask)[0]
    if len(train_pos) < 2 * world.size:
        raise DatasetError(
            f"{ds_path} has {len(train_pos)} training items (of {len(ds)}); at least {2 * world.size} are needed. "
            "Hint: build more items or lower data.val_fraction."
        )
    keys = item_wavetable_keys(ds)
    provenance = {**_provenance(ds, cfg, len(train_pos), len(val_pos)), "processes": world.size}

    doc = load_checkpoint(ckpt_path, space=ds.space) if resume and ckpt_path.exists() else None
    if doc is not None:
        saved = EstimatorConfig.from_dict(doc["config"])
        if saved.replace(train=saved.train.replace(epochs=0)) != cfg.replace(
            train=cfg.train.replace(epochs=0)
        ):
            raise SynthmatchError(
                f"the checkpoint in {out_dir} was trained with config {saved.name!r} and other settings than "
                f"{cfg.name!r}. Hint: resume with the same --config (only --epochs may change)."
            )
        differ = _same_data(doc["provenance"], provenance)
        if differ:
            raise DatasetError(
                f"the checkpoint in {out_dir} was trained on another dataset or number of processes (differs in "
                f"{', '.join(differ)}). Hint: resume with --dataset {doc['provenance'].get('dataset')} and as many "
                f"processes ({doc['provenance'].get('processes', 1)})."
            )
        layout = EstimatorLayout.from_dict(doc["layout"])
    else:
        vocab = build_wavetable_vocab(
            ds,
            size=cfg.model.wavetable_vocab,
            positions=train_pos,
            max_bytes=int(cfg.model.wavetable_max_mb * 1e6),
            keys=keys,
        )
        names = [str(ds.store.get(k).get("name", "")) for k, _ in vocab]
        layout = EstimatorLayout.from_space(ds.space, [k for k, _ in vocab], wavetable_names=names)
    reader = BatchReader(ds, layout, wavetable_classes(keys, layout))
    log_mel = dict(ds.manifest["features"]["config"])
    n_mels = int(log_mel["n_mels"])

    net = build_model(cfg, layout, n_mels=n_mels).to(dev)
    frames = int(ds.manifest["arrays"]["mel"][1])
    if frames < net.encoder.min_frames:
        raise DatasetError(
            f"{ds_path} holds {frames} log-mel frames per item; encoder {cfg.model.encoder!r} needs at least "
            f"{net.encoder.min_frames}. Hint: render longer probes or use fewer conv blocks."
        )
    loss_fn = build_loss(cfg, layout).to(dev)
    optimizer = build_optimizer(cfg, net)
    batch_size = cfg.train.batch_size
    curriculum = cfg.train.curriculum
    rounds_per_epoch = (
        len(epoch_plan(reader, train_pos, batch_size=batch_size, seed=0, epoch=0)) // world.size
    )
    shorter = sum(  # the curriculum's first epochs train on fewer items, so fewer steps
        rounds_per_epoch
        - len(epoch_plan(reader, train_pos, batch_size=batch_size, seed=0, epoch=e, max_effects=limit))
        // world.size
        for e, limit in enumerate(curriculum[: cfg.train.epochs])
    )
    scheduler = build_scheduler(cfg, optimizer, total_steps=rounds_per_epoch * cfg.train.epochs - shorter)
    state: dict[str, Any] = {"epoch": 0, "batch": 0, "step": 0, "sums": {}, "n": 0, "skipped": 0}
    if doc is not None:
        net.load_state_dict(doc["state_dict"])
        optimizer.load_state_dict(doc["optimizer"])
        scheduler.load_state_dict(doc["scheduler"])
        torch.set_rng_state(doc["rng"]["torch"])
        state.update(doc["progress"])
        log.info("resuming %s at epoch %d, batch %d", out_dir, state["epoch"] + 1, state["batch"])
    model = wrap(net, world)
    if world.main:
        (out_dir / CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=1))
    tracker.start(
        run_name=f"{out_dir.name} ({cfg.name})",
        params={**flatten(cfg.to_dict(), "config."), **{f"dataset.{k}": v for k, v in provenance.items()}},
        tags={"synthmatch.out": str(out_dir.resolve()), "synthmatch.config": cfg.name},
        resume=doc is not None,
    )

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path,
            model=net,
            config=cfg,
            layout=layout,
            log_mel=log_mel,
            provenance=provenance,
            progress=state,
            optimizer=optimizer,
            scheduler=scheduler,
        )

    history = _read_history(out_dir / METRICS, upto=int(state["epoch"]), write=world.main)
    epochs_run = 0
    last_save = time.monotonic()
    sum_keys = ("loss", *GROUPS)
    for epoch in range(int(state["epoch"]), cfg.train.epochs):
        plan = epoch_plan(
            reader,
            train_pos,
            batch_size=batch_size,
            seed=cfg.train.seed,
            epoch=epoch,
            max_effects=curriculum_limit(curriculum, epoch),
        )
        rounds = len(plan) // world.size  # process k trains batches k, k + size, ... of the same plan
        t_epoch = time.monotonic()
        model.train()
        for r in range(int(state["batch"]), rounds):
            pos = plan[r * world.size + world.rank]
            t = _tensors(reader.batch(pos), dev)
            out_t = as_dict(model(t["mel"], t["probe"]))
            total, parts = loss_fn(out_t, t)
            if not all_finite(world, total):
                state["skipped"] += 1
                log.warning("epoch %d batch %d: non-finite loss, batch skipped", epoch + 1, r)
                if state["skipped"] > max(10, rounds // 10):
                    raise SynthmatchError(
                        f"training diverged: {state['skipped']} batches with a non-finite loss. "
                        "Hint: lower train.lr or raise model.sigma_min."
                    )
            else:
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
                optimizer.step()
                sums = state["sums"]
                for k, v in zip(sum_keys, (total, *(parts[g] for g in GROUPS))):
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(pos)
                state["n"] += len(pos)
            scheduler.step()
            state["step"] += 1
            state["batch"] = r + 1
            if report is not None:
                loss_now = float(total.detach())
                report(
                    TrainProgress("train", epoch, cfg.train.epochs, r + 1, rounds, state["step"], loss_now)
                )
            every = cfg.train.checkpoint_every_s
            if world.main and every > 0 and time.monotonic() - last_save > every and r + 1 < rounds:
                checkpoint()
                last_save = time.monotonic()
        train_s = time.monotonic() - t_epoch
        *totals, n_seen, skipped = all_sum(
            world, [state["sums"].get(k, 0.0) for k in sum_keys] + [state["n"], state["skipped"]]
        )
        if world.main:
            if report is not None:
                report(TrainProgress("val", epoch, cfg.train.epochs, 0, 1, state["step"]))
            val = evaluate(net, loss_fn, reader, val_pos, batch_size=batch_size, device=dev)
            record = {
                "epoch": epoch + 1,
                "step": state["step"],
                "lr": float(scheduler.get_last_lr()[0]),
                "train": {k: v / max(n_seen, 1) for k, v in zip(sum_keys, totals)},
                "val": val,
                "train_items": int(n_seen),
                "train_seconds": train_s,
                "items_per_s": n_seen / train_s if train_s > 0 else None,
                "skipped_batches": int(skipped),
                "processes": world.size,
            }
            history.append(record)
            with open(out_dir / METRICS, "a") as fh:
                fh.write(json.dumps(json_safe(record)) + "\n")
            tracker.log_metrics(record, step=epoch + 1)
            if record is _best_record(history):
                tmp = out_dir / f".tmp-{BEST}"
                torch.save({"epoch": epoch + 1, "state_dict": net.state_dict()}, tmp)
                os.replace(tmp, out_dir / BEST)
            log.info(
                "epoch %d/%d: train loss %.4f, val loss %.4f (%.0f s)",
                epoch + 1,
                cfg.train.epochs,
                record["train"]["loss"],
                val.get("loss", float("nan")),
                train_s,
            )
        state = {"epoch": epoch + 1, "batch": 0, "step": state["step"], "sums": {}, "n": 0, "skipped": 0}
        if world.main:
            checkpoint()
        barrier(world)
        last_save = time.monotonic()
        epochs_run += 1

    if world.main:
        if report is not None:
            report(TrainProgress("export", cfg.train.epochs, cfg.train.epochs, 0, 1, state["step"]))
        card = _export(
            net,
            cfg,
            layout,
            ds,
            out_dir,
            log_mel=log_mel,
            frames=frames,
            provenance=provenance,
            history=history,
            command=command or _command(cfg, ds_path, out_dir),
        )
        exported = [out_dir / f for f in (ONNX_FILE, WAVETABLES_FILE, CARD_JSON, CARD_MD)]
        tracker.log_artifacts(
            {"": [out_dir / CARD_JSON, out_dir / CARD_MD, out_dir / METRICS], "model": exported}
        )
    barrier(world)
    if not world.main:
        card = json.loads((out_dir / CARD_JSON).read_text())
        history = _read_history(out_dir / METRICS, upto=cfg.train.epochs, write=False)
    return TrainResult(
        out=out_dir,
        onnx=out_dir / ONNX_FILE,
        checkpoint=ckpt_path,
        card=card,
        history=history,
        epochs_run=epochs_run,
        seconds=time.monotonic() - t_start,
    )


def _best_record(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The epoch record with the lowest validation loss (the first of equals), or None."""
    scored = [r for r in history if math.isfinite(float(r.get("val", {}).get("loss", math.nan)))]
    return min(scored, key=lambda r: float(r["val"]["loss"])) if scored else None


def _export(
    net: torch.nn.Module,
    cfg: EstimatorConfig,
    layout: EstimatorLayout,
    ds: Dataset,
    out_dir: pathlib.Path,
    *,
    log_mel: Mapping[str, Any],
    frames: int,
    provenance: Mapping[str, Any],
    history: list[dict[str, Any]],
    command: str,
) -> dict[str, Any]:
    """Write the ONNX model, the wavetables and the model card (see :mod:`synthmatch.models.export`)."""
    n_mels = int(log_mel["n_mels"])
    net = net.cpu().eval()
    best = _best_record(history)
    if best is not None and (out_dir / BEST).is_file():  # the best epoch's weights, not the last's
        net = copy.deepcopy(net)
        net.load_state_dict(torch.load(out_dir / BEST, map_location="cpu")["state_dict"])
    onnx_path, opset = export_onnx(net, out_dir / ONNX_FILE, n_mels=n_mels, frames=frames)
    diff = onnx_max_difference(net, onnx_path, n_mels=n_mels, frames=frames)
    wt_path = save_wavetables(out_dir / WAVETABLES_FILE, ds, layout.wavetable_vocab)
    return write_model_card(
        out_dir,
        config=cfg,
        layout=layout,
        log_mel=log_mel,
        provenance=provenance,
        metrics=best or {},
        onnx={
            "file": ONNX_FILE,
            "opset": opset,
            "inputs": {"mel": ["B", n_mels, "T"], "probe": ["B", 3]},
            "outputs": layout.output_shapes(
                embedding_dim=net.embedding_dim, mdn_components=cfg.model.mdn_components
            ),
            "min_frames": int(net.encoder.min_frames),
            "bytes": onnx_path.stat().st_size,
            "max_abs_diff_vs_torch": diff,
        },
        wavetables={
            "file": WAVETABLES_FILE,
            "tables": len(layout.wavetable_vocab),
            "bytes": wt_path.stat().st_size,
        },
        command=command,
        parameters=count_parameters(net),
    )


def _command(cfg: EstimatorConfig, dataset: pathlib.Path, out: pathlib.Path) -> str:
    from synthmatch.models.configs import CONFIGS

    named = CONFIGS.get(cfg.name)
    same = named is not None and dataclasses.replace(
        named, train=named.train.replace(epochs=0)
    ) == cfg.replace(train=cfg.train.replace(epochs=0))
    which = cfg.name if same else str(out / CONFIG_FILE)
    return shlex.join(
        [
            "synthmatch",
            "train",
            "estimator",
            "--config",
            which,
            "--dataset",
            str(dataset),
            "--out",
            str(out),
            "--epochs",
            str(cfg.train.epochs),
        ]
    )


def _read_history(path: pathlib.Path, *, upto: int, write: bool) -> list[dict[str, Any]]:
    """Metrics of the epochs already trained (a resumed run drops lines past its checkpoint)."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    kept = [r for r in records if int(r["epoch"]) <= upto]
    if write and len(kept) != len(records):
        path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return kept
