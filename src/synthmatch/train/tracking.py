"""Experiment tracking of estimator training: a small tracker interface, MLflow and no-op trackers.

:func:`make_tracker` picks one by name (:data:`TRACKERS`): ``"mlflow"`` records each training run
as an MLflow run (parameters: the config and the dataset's provenance, flattened; metrics: each
epoch's record of ``metrics.jsonl``, flattened, at step = epoch; artifacts: the model card and
the exported model), ``"none"`` records nothing. ``None`` asks for MLflow when it is installed and
otherwise trains untracked with a one-line notice; asking for MLflow by name or with a tracking URI
when it is not installed is a :class:`~synthmatch.errors.MissingExtraError`.

By default the MLflow store is local to the run folder: ``sqlite:///OUT/mlruns/mlflow.db`` with
artifacts in ``OUT/mlruns/artifacts`` (current MLflow refuses the plain-folder ``file:`` store);
``mlflow ui --backend-store-uri sqlite:///OUT/mlruns/mlflow.db`` shows it. Any other URI
(``--tracking-uri``, e.g. ``http://host:5000``) is passed to MLflow as is. The run's id is kept in
``OUT/tracking.json``, so a resumed training continues the same MLflow run. A store that cannot be
opened stops the training before it starts; a failure to record metrics or artifacts later is a
warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pathlib
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from synthmatch.errors import MissingExtraError, ParameterError

log = logging.getLogger(__name__)

#: Where the run's MLflow run id is kept (resume continues that run).
TRACKING_FILE = "tracking.json"
#: The MLflow experiment the runs go to.
EXPERIMENT = "synthmatch-estimator"

Status = Literal["FINISHED", "FAILED", "KILLED"]


class Tracker:
    """What training calls; this base records nothing (the ``none`` tracker).

    ``start`` is called once the run's parameters are known, ``log_metrics`` after each epoch,
    ``log_artifacts`` after the export and ``finish`` at the end (also after a failure, also when
    ``start`` was never reached).
    """

    name = "none"

    def start(
        self, *, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str], resume: bool
    ) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int) -> None:
        pass

    def log_artifacts(self, files: Mapping[str, list[pathlib.Path]]) -> None:
        """``files``: artifact folder ("" for the root) → local files to copy there."""

    def finish(self, status: Status = "FINISHED") -> None:
        pass


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys: ``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def numeric_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a (nested) metrics record, flattened; booleans and None are left out."""
    out = {}
    for k, v in flatten(record).items():
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v)):
            out[k] = float(v)
    return out


def mlflow_key(key: str) -> str:
    """``key`` with the characters MLflow refuses in names (all but letters, digits, ``_-. :/``) as ``_``."""
    return re.sub(r"[^\w\-. :/]", "_", key)


def default_uri(out: str | os.PathLike[str]) -> str:
    """The local store of a run folder: ``sqlite:///OUT/mlruns/mlflow.db`` (absolute)."""
    return "sqlite:///" + str((pathlib.Path(out) / "mlruns" / "mlflow.db").resolve())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's own deprecation warnings (its SQLAlchemy use) and store-migration INFO lines are not
    the user's business; errors still raise."""
    loggers = [logging.getLogger(n) for n in ("mlflow.store.db.utils", "alembic.runtime.migration")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow\.")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow\.")
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, lvl in zip(loggers, levels):
                lg.setLevel(lvl)


class MLflowTracker(Tracker):
    """Tracks a training run in MLflow through ``MlflowClient`` (no global MLflow state)."""

    name = "mlflow"

    def __init__(self, *, uri: str | None, out: str | os.PathLike[str]) -> None:
        import mlflow  # noqa: F401  (raises ImportError when missing; make_tracker turns it into a hint)
        from mlflow.tracking import MlflowClient

        self.out = pathlib.Path(out)
        self.uri = uri or default_uri(self.out)
        self.artifact_location: str | None = None
        if self.uri.startswith("sqlite:///"):
            db = pathlib.Path(self.uri[len("sqlite:///") :])
            db.parent.mkdir(parents=True, exist_ok=True)
            self.artifact_location = (db.parent / "artifacts").resolve().as_uri()
        with _quiet():
            self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id: str | None = None

    def start(
        self, *, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str], resume: bool
    ) -> None:
        from mlflow.entities import Param, RunTag
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        with _quiet():
            run = self._previous_run() if resume else None
            if run is None:
                exp = self.client.get_experiment_by_name(EXPERIMENT)
                exp_id = (
                    exp.experiment_id
                    if exp is not None
                    else self.client.create_experiment(EXPERIMENT, artifact_location=self.artifact_location)
                )
                run = self.client.create_run(exp_id, run_name=run_name, tags=dict(tags))
                known: dict[str, str] = {}
            else:
                self.client.update_run(run.info.run_id, status="RUNNING")
                known = dict(run.data.params)
            self.run_id = run.info.run_id
            (self.out / TRACKING_FILE).write_text(
                json.dumps({"uri": self.uri, "run_id": self.run_id}, indent=1)
            )
            values: dict[str, str] = {}
            for k, v in params.items():
                values.setdefault(mlflow_key(k), _param_text(v)[:MAX_PARAM_VAL_LENGTH])
            new = [Param(k, v) for k, v in values.items() if k not in known]
            # MLflow params are write-once; a value changed on resume (e.g. the epochs) goes to a tag
            changed = [RunTag(f"resumed.{k}", v) for k, v in values.items() if k in known and known[k] != v]
            for i in range(0, max(len(new), len(changed)), MAX_PARAMS_TAGS_PER_BATCH):
                self.client.log_batch(
                    self.run_id,
                    params=new[i : i + MAX_PARAMS_TAGS_PER_BATCH],
                    tags=changed[i : i + MAX_PARAMS_TAGS_PER_BATCH],
                )

    def _previous_run(self) -> Any:
        """The MLflow run recorded in OUT/tracking.json, if it is in this store."""
        path = self.out / TRACKING_FILE
        if not path.is_file():
            return None
        doc = json.loads(path.read_text())
        if doc.get("uri") != self.uri or not doc.get("run_id"):
            return None
        try:
            return self.client.get_run(doc["run_id"])
        except Exception:  # deleted or another store: a new run
            log.info("MLflow run %s not found in %s: starting a new run", doc["run_id"], self.uri)
            return None

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int) -> None:
        from mlflow.entities import Metric

        if self.run_id is None:
            return
        now = int(time.time() * 1000)
        batch = [Metric(mlflow_key(k), v, now, int(step)) for k, v in numeric_metrics(metrics).items()]
        with self._or_warn("metrics"):
            self.client.log_batch(self.run_id, metrics=batch)

    def log_artifacts(self, files: Mapping[str, list[pathlib.Path]]) -> None:
        if self.run_id is None:
            return
        with self._or_warn("artifacts"):
            for folder, paths in files.items():
                for p in paths:
                    if p.is_file():
                        self.client.log_artifact(self.run_id, str(p), artifact_path=folder or None)

    def finish(self, status: Status = "FINISHED") -> None:
        if self.run_id is None:
            return
        with self._or_warn("the run's end"):
            self.client.set_terminated(self.run_id, status=status)
        self.run_id = None

    @contextlib.contextmanager
    def _or_warn(self, what: str) -> Iterator[None]:
        """Once a run has started, a tracking failure (e.g. a server gone away) costs its record, not
        the training: it is logged as a warning."""
        try:
            with _quiet():
                yield
        except Exception as exc:
            log.warning("MLflow could not record %s of run %s in %s: %s", what, self.run_id, self.uri, exc)


def _param_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


#: name → factory(uri=..., out=...).
TRACKERS: dict[str, Callable[..., Tracker]] = {
    "mlflow": MLflowTracker,
    "none": lambda *, uri, out: Tracker(),
}


def make_tracker(
    name: str | None, *, uri: str | None = None, out: str | os.PathLike[str], main: bool = True
) -> Tracker:
    """The tracker ``name`` (:data:`TRACKERS`) for the run folder ``out``.

    ``name=None``: MLflow when it is installed, else none, with a one-line notice. A ``uri`` with
    ``name=None`` asks for MLflow explicitly. Processes other than the main one never track.
    """
    if not main:
        return Tracker()
    if name is None and uri is None:
        try:
            return MLflowTracker(uri=None, out=out)
        except ImportError:
            log.warning(
                "mlflow is not installed: training without experiment tracking "
                "(pip install 'synthmatch[train]' to track runs in OUT/mlruns)"
            )
            return Tracker()
    name = name or "mlflow"
    if name not in TRACKERS:
        raise ParameterError(f"unknown tracker {name!r}; choose one of {', '.join(TRACKERS)}")
    if name == "none" and uri is not None:
        raise ParameterError("a tracking URI was given with tracking switched off. Hint: drop one of them.")
    try:
        return TRACKERS[name](uri=uri, out=out)
    except ImportError:
        raise MissingExtraError("mlflow", "train", "experiment tracking (--tracking-uri)") from None
