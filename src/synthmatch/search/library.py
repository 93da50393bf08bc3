"""The retrieval library: rendered presets, their embeddings, and a faiss index over them.

On disk a library is a folder:

* ``library.json`` — provenance: spec hash, probe, embedding name and config, size, sampler and
  seed, package/`vita` versions, creation time. Loading a library made for another parameter
  space, probe or embedding raises :class:`~synthmatch.errors.SpecMismatchError`.
* ``embeddings.npy`` — float32 [N, D]; the faiss index is built from it on load (flat L2 up to
  :data:`FLAT_LIMIT` items, IVF beyond).
* ``presets.jsonl.gz`` — one compact record per item: non-default values, connections, and
  asset ids.
* ``assets.json.gz`` — wavetables, LFO shapes and samples by content id (deduplicated).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import pathlib
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch import __version__
from synthmatch.errors import SpecMismatchError, SynthmatchError
from synthmatch.render.probe import Probe
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import default_space

FLAT_LIMIT = 200_000
FORMAT_VERSION = 1


def _asset_id(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _audible_assets(preset: Preset) -> tuple[list[Any], list[Any], Any]:
    """The preset's assets with inactive ones replaced by the init preset's (same sound, less data).

    A wavetable of an oscillator that is off, the sample when the sample oscillator is off, and
    the shape of an LFO that modulates nothing cannot change the sound.
    """
    from synthmatch.vital.tables import init_preset_json

    init = init_preset_json()["settings"]
    used = preset.used_sources()
    wts = [
        wt if preset.values.get(f"osc_{k + 1}_on", 0.0) >= 0.5 else init["wavetables"][k]
        for k, wt in enumerate(preset.wavetables)
    ]
    lfos = [shape if f"lfo_{k + 1}" in used else init["lfos"][k] for k, shape in enumerate(preset.lfo_shapes)]
    sample = preset.sample if preset.values.get("sample_on", 0.0) >= 0.5 else init["sample"]
    return wts, lfos, sample


def compact_record(preset: Preset, assets: dict[str, Any]) -> dict[str, Any]:
    """A small JSON record of a preset; its (audible) assets are added to ``assets`` by content id."""
    space = default_space()
    values = {k: v for k, v in preset.values.items() if v != space[k].default}
    wts, lfos, sample = _audible_assets(preset)
    ids = {}
    for key, items in (("wt", wts), ("lfo", lfos)):
        ids[key] = []
        for obj in items:
            aid = _asset_id(obj)
            assets.setdefault(aid, obj)
            ids[key].append(aid)
    sid = _asset_id(sample)
    assets.setdefault(sid, sample)
    mods = [
        [
            m.source,
            m.destination,
            m.amount,
            int(m.bipolar),
            m.power,
            int(m.stereo),
            int(m.bypass),
            slot,
            m.line_mapping,
        ]
        for m, slot in zip(preset.modulations, preset.slot_assignment())
    ]
    rec: dict[str, Any] = {"v": values, "m": mods, "wt": ids["wt"], "lfo": ids["lfo"], "s": sid}
    if preset.meta.get("preset_name"):
        rec["name"] = preset.meta["preset_name"]
    return rec


def preset_from_record(rec: dict[str, Any], assets: dict[str, Any]) -> Preset:
    """Inverse of :func:`compact_record`."""
    space = default_space()
    values = {n: space[n].default for n in space.control_names()}
    values.update({k: float(v) for k, v in rec["v"].items()})
    mods = [
        Modulation(
            s,
            d,
            amount=a,
            bipolar=bool(b),
            power=p,
            stereo=bool(st),
            bypass=bool(by),
            slot=rest[0] if rest else None,
            line_mapping=rest[1] if len(rest) > 1 else None,
        )
        for s, d, a, b, p, st, by, *rest in rec["m"]
    ]
    return Preset(
        values=values,
        modulations=mods,
        wavetables=[json.loads(json.dumps(assets[a])) for a in rec["wt"]],
        lfo_shapes=[json.loads(json.dumps(assets[a])) for a in rec["lfo"]],
        sample=json.loads(json.dumps(assets[rec["s"]])),
        meta={"preset_name": rec.get("name", "library item")},
    )


@dataclass
class Library:
    """Embeddings of rendered presets plus the presets themselves, searchable by k-NN."""

    embeddings: np.ndarray  # float32 [N, D]
    records: list[dict[str, Any]]
    assets: dict[str, Any]
    provenance: dict[str, Any]
    _index: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def probe(self) -> Probe:
        return Probe.from_dict(self.provenance["probe"])

    @property
    def embedding_name(self) -> str:
        return str(self.provenance["embedding"]["name"])

    def preset(self, i: int) -> Preset:
        return preset_from_record(self.records[i], self.assets)

    def index(self) -> Any:
        if self._index is None:
            import faiss

            x = np.ascontiguousarray(self.embeddings, dtype=np.float32)
            d = x.shape[1]
            if len(x) <= FLAT_LIMIT:
                idx = faiss.IndexFlatL2(d)
            else:  # pragma: no cover - large libraries
                nlist = int(4 * np.sqrt(len(x)))
                idx = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
                idx.train(x)
                idx.nprobe = 16
            idx.add(x)
            self._index = idx
        return self._index

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest items to ``query`` [shape=(D,)]: (indices [k], squared L2 distances [k])."""
        q = np.ascontiguousarray(np.asarray(query, np.float32).reshape(1, -1))
        if q.shape[1] != self.embeddings.shape[1]:
            raise SpecMismatchError(
                f"query embedding has {q.shape[1]} dims, the library {self.embeddings.shape[1]}. "
                "Hint: embed the query with the library's embedding (library.json)."
            )
        dist, idx = self.index().search(q, min(k, len(self)))
        keep = idx[0] >= 0
        return idx[0][keep], dist[0][keep]

    # -- persistence -------------------------------------------------------------------
    def save(self, folder: str | os.PathLike[str]) -> pathlib.Path:
        """Write atomically (to a temporary folder, then renamed)."""
        out = pathlib.Path(folder)
        tmp = out.with_name(out.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        check_save_target(out)
        tmp.mkdir(parents=True)
        np.save(tmp / "embeddings.npy", self.embeddings.astype(np.float32))
        with gzip.open(tmp / "presets.jsonl.gz", "wt") as fh:
            for rec in self.records:
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
        with gzip.open(tmp / "assets.json.gz", "wt") as fh:
            json.dump(self.assets, fh, separators=(",", ":"))
        (tmp / "library.json").write_text(json.dumps(self.provenance, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, check: bool = True) -> Library:
        p = pathlib.Path(folder)
        meta = p / "library.json"
        if not meta.exists():
            raise SynthmatchError(
                f"{p} is not a synthmatch library (no library.json). Hint: build one with "
                "'synthmatch library build --dataset DIR --out LIB'."
            )
        provenance = json.loads(meta.read_text())
        if check:
            space = default_space()
            if provenance.get("spec_hash") != space.spec_hash:
                raise SpecMismatchError(
                    f"library {p} was built for parameter space {provenance.get('spec_hash')}, "
                    f"this synthmatch uses {space.spec_hash}. Hint: rebuild the library with this version."
                )
        emb = np.load(p / "embeddings.npy")
        with gzip.open(p / "presets.jsonl.gz", "rt") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        with gzip.open(p / "assets.json.gz", "rt") as fh:
            assets = json.load(fh)
        if len(records) != len(emb):
            raise SynthmatchError(
                f"library {p} is inconsistent: {len(records)} presets, {len(emb)} embeddings"
            )
        return cls(emb, records, assets, provenance)


def check_save_target(folder: str | os.PathLike[str]) -> None:
    """Refuse a destination that :meth:`Library.save` would have to wipe: an existing file, or a
    folder with something in it that is not a library. Call it before a long build, too."""
    out = pathlib.Path(folder)
    if out.exists() and (not out.is_dir() or (not (out / "library.json").exists() and any(out.iterdir()))):
        raise SynthmatchError(
            f"{out} exists and is not a synthmatch library; saving would replace what is in it. "
            "Hint: choose a new folder for the library."
        )


def build_library(
    presets: Sequence[Preset],
    *,
    probe: Probe,
    embedding: Any,
    pool: Any,
    progress: Callable[[int, int], None] | None = None,
    provenance: dict[str, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> Library:
    """Render ``presets`` at ``probe`` on ``pool``, embed the renders, and build a library.

    Items whose render fails or is silent are skipped and counted in the provenance.

    ``checkpoint`` is a file that logs each item as it is done (its embedding, or why it was
    skipped). A build that stops (Ctrl-C, a crash, a lost machine) and is started again with the
    same presets, probe, embedding and provenance renders only the items the log lacks; a log
    written for another build is refused. The caller removes the file once the library is saved.
    """
    from synthmatch.render.engine import audio_problem, engine_version

    records: list[dict[str, Any]] = []
    assets: dict[str, Any] = {}
    vecs: list[np.ndarray] = []
    skipped: dict[str, int] = {}
    done: dict[int, np.ndarray | str] = {}
    log = None
    if checkpoint is not None:
        key = _build_key(len(presets), probe, embedding, provenance)
        done = _read_checkpoint(pathlib.Path(checkpoint), key)
        log = _open_checkpoint(pathlib.Path(checkpoint), key)
    todo = [i for i in range(len(presets)) if i not in done]
    resumed = len(done)

    def step(k: int, _n: int) -> None:
        if progress is not None:
            progress(resumed + k, len(presets))

    try:
        for j, out in pool.imap([presets[i] for i in todo], probe, progress=step):
            i = todo[j]
            reason = out.status if not out.ok else audio_problem(out.audio)
            if reason is not None and reason != "clipped":
                done[i] = reason
            else:
                done[i] = np.asarray(embedding.embed(out.mono, probe.sample_rate), dtype=np.float32)
            if log is not None:
                log.write(_checkpoint_line(i, done[i]))
                log.flush()
    finally:
        if log is not None:
            log.close()
    results: dict[int, np.ndarray] = {}
    for i, got in done.items():
        if isinstance(got, str):
            skipped[got] = skipped.get(got, 0) + 1
        else:
            results[i] = got
    for i in sorted(results):
        records.append(compact_record(presets[i], assets))
        vecs.append(results[i])
    if not vecs:
        raise SynthmatchError("no usable renders: the library would be empty")
    prov = {
        "format": FORMAT_VERSION,
        "spec_hash": default_space().spec_hash,
        "probe": probe.to_dict(),
        "embedding": {"name": embedding.name, "config": _config_dict(embedding)},
        "size": len(records),
        "skipped": skipped,
        "versions": {"synthmatch": __version__, "vita": engine_version(), "numpy": np.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    prov.update(provenance or {})
    return Library(np.stack(vecs).astype(np.float32), records, assets, prov)


def _build_key(n: int, probe: Probe, embedding: Any, provenance: dict[str, Any] | None) -> str:
    """What a checkpoint must have been written for: the same items, probe, embedding and space."""
    parts = {
        "n": n,
        "probe": probe.to_dict(),
        "embedding": {"name": embedding.name, "config": _config_dict(embedding)},
        "spec_hash": default_space().spec_hash,
        "provenance": provenance or {},
    }
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _checkpoint_line(i: int, got: np.ndarray | str) -> str:
    if isinstance(got, str):
        return json.dumps({"i": i, "skipped": got}) + "\n"
    vec = np.ascontiguousarray(got, dtype="<f4")
    return json.dumps({"i": i, "embedding": base64.b64encode(vec.tobytes()).decode()}) + "\n"


def _read_checkpoint(path: pathlib.Path, key: str) -> dict[int, np.ndarray | str]:
    """The items a checkpoint holds (a last line cut short by a kill is ignored). The file is
    read a line at a time: a large build's log need not fit in memory twice."""
    if not path.exists():
        return {}
    done: dict[int, np.ndarray | str] = {}
    with path.open() as f:
        try:
            head = json.loads(next(f, "{}"))
        except json.JSONDecodeError:
            head = {}
        if head.get("build") != key:
            raise SynthmatchError(
                f"{path} logs another library build (other presets, probe, embedding or settings). "
                "Hint: delete it to start this build from scratch, or repeat the command that started it."
            )
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "skipped" in rec:
                done[int(rec["i"])] = str(rec["skipped"])
            else:
                done[int(rec["i"])] = np.frombuffer(base64.b64decode(rec["embedding"]), dtype="<f4").copy()
    return done


def _open_checkpoint(path: pathlib.Path, key: str) -> Any:
    if path.exists():
        last = b""
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(size - 1)
                last = f.read(1)
        fh = path.open("a")
        if last not in (b"", b"\n"):
            fh.write("\n")  # end a line cut short, so the next record starts on its own line
        return fh
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("w")
    fh.write(json.dumps({"build": key}) + "\n")
    fh.flush()
    return fh


def _config_dict(embedding: Any) -> dict[str, Any]:
    cfg = getattr(embedding, "config", None)
    if cfg is None:
        return {}
    if hasattr(cfg, "to_dict"):
        return dict(cfg.to_dict())
    return dict(getattr(cfg, "__dict__", {}))


def default_library_path() -> pathlib.Path:
    """The library shipped with the package (``$SYNTHMATCH_LIBRARY`` overrides)."""
    env = os.environ.get("SYNTHMATCH_LIBRARY")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[1] / "resources" / "library"
