"""What is in a dataset (``dataset info``) and how far apart datasets are (``dataset compare``).

Coverage of a parameter: among the items where it is active, the fraction of its value bins
that hold at least one item — 10 equal bins of the normalized range for continuous parameters
(fewer for discrete ones with fewer values, 2 for switches), and the fraction of options seen for
categorical parameters.

The distribution gap between datasets is measured on features every item has:

* per-band log-mel statistics — the mean over items of each band's time-averaged level (dB), and
  its spread across items;
* the render statistics (centroid, RMS, attack, tail, flatness, stereo width) as distributions;
* ``fd_mel``: the Fréchet distance between Gaussians fitted to the items' time-averaged log-mel
  profiles (pooled to 32 bands), the audio analogue of FID;
* ``ks``: the two-sample Kolmogorov–Smirnov statistic of each render statistic against the
  reference set (0 identical … 1 disjoint).
"""

from __future__ import annotations

import collections
import itertools
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthmatch.data.reader import Dataset

_BINS = 10
_POOLED_BANDS = 32
_QUANTILES = np.linspace(0, 100, 21)


def _save_figure(fig: Any, path: str | os.PathLike[str]) -> pathlib.Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _sample_rows(n: int, max_items: int, seed: int = 0) -> np.ndarray:
    if n <= max_items:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_items, replace=False))


def dataset_info(ds: Dataset, *, max_items: int = 20000) -> dict[str, Any]:
    """Counts, rejection reasons, per-parameter coverage and audio statistics of a dataset."""
    m = ds.manifest
    space = ds.space
    counts = dict(m.get("counts", {}))
    counts.setdefault("items", len(ds))
    attempts = max(int(counts.get("attempts", 0)), 1)
    rejections = {
        r: {"count": c, "fraction_of_attempts": round(c / attempts, 4)}
        for r, c in sorted(counts.get("rejections", {}).items(), key=lambda kv: -kv[1])
    }
    n = len(ds)
    rows = _sample_rows(n, max_items)
    x = ds.column("x")[rows] if n else np.zeros((0, len(space.layout.numeric)))
    c = ds.column("c")[rows] if n else np.zeros((0, len(space.layout.categorical)))
    ax = ds.column("active_x")[rows] if n else np.zeros_like(x, dtype=bool)
    ac = ds.column("active_c")[rows] if n else np.zeros_like(c, dtype=bool)
    params: list[dict[str, Any]] = []
    for j, name in enumerate(space.layout.numeric):
        s = space[name]
        if s.prior == "fixed":
            continue
        n_bins = 2 if s.kind == "bool" else (min(_BINS, round(s.span) + 1) if s.kind == "discrete" else _BINS)
        act = ax[:, j]
        vals = x[act, j]
        hist = np.histogram(vals, bins=n_bins, range=(0.0, 1.0))[0] if vals.size else np.zeros(n_bins, int)
        params.append(
            {
                "name": name,
                "module": s.module,
                "kind": s.kind,
                "active": round(float(act.mean()) if act.size else 0.0, 4),
                "coverage": round(float((hist > 0).mean()), 4),
                "hist": hist.tolist(),
            }
        )
    for j, name in enumerate(space.layout.categorical):
        s = space[name]
        if s.prior == "fixed":
            continue
        act = ac[:, j]
        seen = np.unique(c[act, j]) if act.any() else np.zeros(0)
        hist = (
            np.bincount(c[act, j].astype(np.int64), minlength=len(s.values))
            if act.any()
            else np.zeros(len(s.values), int)
        )
        params.append(
            {
                "name": name,
                "module": s.module,
                "kind": s.kind,
                "active": round(float(act.mean()) if act.size else 0.0, 4),
                "coverage": round(len(seen) / len(s.values), 4),
                "hist": hist.tolist(),
            }
        )
    modules: dict[str, dict[str, Any]] = {}
    by_module: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for p in params:
        group = "mod_slots" if p["module"].startswith("mod_") else p["module"]
        by_module[group].append(p)
    for mod, ps in by_module.items():
        modules[mod] = {
            "params": len(ps),
            "active": round(float(np.mean([p["active"] for p in ps])), 4),
            "coverage": round(float(np.mean([p["coverage"] for p in ps])), 4),
        }
    stats = ds.column("stats")[rows] if n else np.zeros((0, len(ds.stat_names)))
    audio = {
        name: {
            q: round(float(np.percentile(stats[:, j], pct)), 4) if len(stats) else None
            for q, pct in (("p05", 5), ("p50", 50), ("p95", 95))
        }
        | {"mean": round(float(stats[:, j].mean()), 4) if len(stats) else None}
        for j, name in enumerate(ds.stat_names)
    }
    return {
        "path": str(ds.root),
        "status": m.get("status"),
        "spec_hash": m.get("spec_hash"),
        "sampler": m.get("sampler"),
        "seed": m.get("seed"),
        "probe": m.get("probe"),
        "probe_sampler": m.get("probe_sampler", {}).get("name"),
        "requested": m.get("n"),
        "items": len(ds),
        "shards": ds.n_shards,
        "counts": counts,
        "rejections": rejections,
        "failed_items": [f["index"] for f in m.get("failed", [])],
        "sampled_items": len(rows),
        "modules": dict(sorted(modules.items())),
        "params": params,
        "audio": audio,
        "versions": m.get("versions"),
    }


def format_info(info: dict[str, Any]) -> str:
    """A plain-text table of :func:`dataset_info`."""
    lines = [
        f"dataset {info['path']} ({info['status']}), spec {info['spec_hash']}",
        f"sampler {info['sampler']['name']}, seed {info['seed']}, probe {info['probe']} ({info['probe_sampler']})",
        f"items {info['items']} of {info['requested']} requested in {info['shards']} shards; "
        f"attempts {info['counts'].get('attempts', '?')}, failed items {len(info['failed_items'])}",
        "",
        "rejections (per render attempt):",
    ]
    if not info["rejections"]:
        lines.append("  none")
    for reason, r in info["rejections"].items():
        lines.append(f"  {reason:18s} {r['count']:8d}  {100 * r['fraction_of_attempts']:5.1f} %")
    lines += ["", f"{'module':14s} {'params':>6s} {'active':>7s} {'coverage':>9s}"]
    for mod, r in info["modules"].items():
        lines.append(f"{mod:14s} {r['params']:6d} {100 * r['active']:6.1f}% {100 * r['coverage']:8.1f}%")
    active = [p for p in info["params"] if p["active"] > 0 and not p["module"].startswith("mod_")]
    low = sorted(active, key=lambda p: p["coverage"])[:10]
    never = [p["name"] for p in info["params"] if p["active"] == 0 and not p["module"].startswith("mod_")]
    lines += ["", "lowest coverage among active parameters (modulation slots excluded):"]
    lines += [
        f"  {p['name']:36s} coverage {100 * p['coverage']:5.1f} %  active {100 * p['active']:5.1f} %"
        for p in low
    ]
    if never:
        lines.append(
            f"never active ({len(never)}): " + ", ".join(never[:12]) + (" …" if len(never) > 12 else "")
        )
    lines += [
        "",
        f"audio statistics over {info['sampled_items']} items:",
        f"  {'stat':14s} {'p05':>10s} {'p50':>10s} {'p95':>10s}",
    ]
    for name, r in info["audio"].items():
        if r["p50"] is None:
            continue
        lines.append(f"  {name:14s} {r['p05']:10.3f} {r['p50']:10.3f} {r['p95']:10.3f}")
    return "\n".join(lines)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        from synthmatch.errors import MissingExtraError

        raise MissingExtraError("matplotlib", "plot", "dataset plots") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_coverage(info: dict[str, Any], path: str | os.PathLike[str]) -> pathlib.Path:
    """Write a PNG: per-module active/coverage bars and a heat map of value histograms."""
    plt = _pyplot()
    mods = list(info["modules"])
    cont = [
        p
        for p in info["params"]
        if p["kind"] in ("continuous", "discrete") and not p["module"].startswith("mod_")
    ]
    heat = np.zeros((max(len(cont), 1), _BINS))
    for r, p in enumerate(cont):
        h = np.asarray(p["hist"], dtype=float)
        if h.sum() > 0:
            h = np.interp(np.linspace(0, len(h) - 1, _BINS), np.arange(len(h)), h) if len(h) != _BINS else h
            heat[r] = h / h.max()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 9), gridspec_kw={"width_ratios": [1.2, 1]})
    y = np.arange(len(mods))
    a1.barh(y - 0.2, [100 * info["modules"][m]["active"] for m in mods], height=0.4, label="active %")
    a1.barh(y + 0.2, [100 * info["modules"][m]["coverage"] for m in mods], height=0.4, label="coverage %")
    a1.set_yticks(y, mods, fontsize=7)
    a1.invert_yaxis()
    a1.set_xlim(0, 100)
    a1.legend(loc="lower right")
    a1.set_title(f"{info['items']} items, sampler {info['sampler']['name']}: per module")
    a2.imshow(heat, aspect="auto", interpolation="nearest", cmap="viridis", extent=(0, 1, len(cont), 0))
    a2.set_xlabel("normalized value (active items only)")
    a2.set_ylabel(f"{len(cont)} continuous/discrete parameters (space order)")
    a2.set_title("value histograms (each row scaled to its max)")
    return _save_figure(fig, path)


# ---------------------------------------------------------------------------------------
# Distribution gap.
# ---------------------------------------------------------------------------------------
def _pool_bands(profiles: np.ndarray, n_out: int) -> np.ndarray:
    n = profiles.shape[1]
    if n <= n_out:
        return profiles
    edges = np.linspace(0, n, n_out + 1).astype(int)
    return np.stack([profiles[:, a:b].mean(axis=1) for a, b in itertools.pairwise(edges)], axis=1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of vectors [shape=(n, d)]."""
    from scipy import linalg

    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    c1 = np.atleast_2d(np.cov(a, rowvar=False)) + 1e-6 * np.eye(a.shape[1])
    c2 = np.atleast_2d(np.cov(b, rowvar=False)) + 1e-6 * np.eye(b.shape[1])
    covmean = linalg.sqrtm(c1 @ c2)
    covmean = np.real(covmean)
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))
    return max(d, 0.0)


def _profiles(ds: Dataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item: time-averaged log-mel per band [n, n_mels] and the stats [n, n_stats]."""
    prof, stats = [], []
    for k in range(ds.n_shards):
        cols = ds.shard_columns(k, ("mel", "stats"))
        lo, hi = ds._offsets[k], ds._offsets[k + 1]
        sel = rows[(rows >= lo) & (rows < hi)] - lo
        if sel.size:
            prof.append(np.asarray(cols["mel"][sel], dtype=np.float32).mean(axis=2))
            stats.append(np.asarray(cols["stats"][sel]))
    if not prof:
        mel_shape = ds.manifest["arrays"]["mel"]
        return np.zeros((0, mel_shape[0])), np.zeros((0, len(ds.stat_names)))
    return np.concatenate(prof), np.concatenate(stats)


def compare_datasets(
    paths: Sequence[str | os.PathLike[str]],
    *,
    labels: Sequence[str] | None = None,
    reference: str | None = None,
    max_items: int = 5000,
) -> dict[str, Any]:
    """Feature statistics of each dataset and its gap to a reference dataset (see the module docstring)."""
    from scipy.stats import ks_2samp

    dss = [Dataset(p) for p in paths]
    labels = list(labels) if labels else [pathlib.Path(p).name for p in paths]
    if len(labels) != len(dss):
        raise ValueError(f"{len(dss)} datasets but {len(labels)} labels")
    if reference is None:
        trains = [lab for lab, d in zip(labels, dss) if d.manifest.get("sampler", {}).get("name") == "train"]
        reference = trains[0] if trains else labels[-1]
    if reference not in labels:
        raise ValueError(f"reference {reference!r} is not one of the labels {labels}")
    data = {}
    for lab, ds in zip(labels, dss):
        prof, stats = _profiles(ds, _sample_rows(len(ds), max_items))
        data[lab] = (ds, prof, stats)
    ref_prof, ref_stats = data[reference][1], data[reference][2]
    out: dict[str, Any] = {"reference": reference, "sets": {}}
    if len(ref_prof) >= 4:
        # Noise floor: the same distance between two random halves of the reference set.
        perm = np.random.default_rng(0).permutation(len(ref_prof))
        h1, h2 = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        pooled = _pool_bands(ref_prof, _POOLED_BANDS)
        out["reference_split_fd_mel"] = round(frechet_distance(pooled[h1], pooled[h2]), 3)
    for lab, (ds, prof, stats) in data.items():
        names = ds.stat_names
        entry: dict[str, Any] = {
            "path": str(ds.root),
            "sampler": ds.manifest.get("sampler", {}).get("name"),
            "items": len(prof),
            "mel_mean": prof.mean(axis=0).round(3).tolist() if len(prof) else [],
            "mel_std": prof.std(axis=0).round(3).tolist() if len(prof) else [],
            "stats": {
                name: {
                    "mean": round(float(stats[:, j].mean()), 4),
                    "std": round(float(stats[:, j].std()), 4),
                    "p05": round(float(np.percentile(stats[:, j], 5)), 4),
                    "p50": round(float(np.percentile(stats[:, j], 50)), 4),
                    "p95": round(float(np.percentile(stats[:, j], 95)), 4),
                    "quantiles": np.percentile(stats[:, j], _QUANTILES).round(4).tolist(),
                }
                for j, name in enumerate(names)
            }
            if len(stats)
            else {},
        }
        if len(prof) > 1 and len(ref_prof) > 1:
            entry["fd_mel"] = round(
                frechet_distance(_pool_bands(prof, _POOLED_BANDS), _pool_bands(ref_prof, _POOLED_BANDS)), 3
            )
            entry["mel_mean_abs_diff_db"] = round(float(np.mean(np.abs(prof.mean(0) - ref_prof.mean(0)))), 3)
            entry["ks"] = {
                name: round(float(ks_2samp(stats[:, j], ref_stats[:, j]).statistic), 4)
                for j, name in enumerate(names)
            }
        out["sets"][lab] = entry
    return out


def format_compare(result: dict[str, Any]) -> str:
    ref = result["reference"]
    sets = result["sets"]
    labs = list(sets)
    w = max(12, *(len(lab) for lab in labs))
    lines = [f"reference: {ref}"]
    if "reference_split_fd_mel" in result:
        lines.append(
            f"noise floor: FD log-mel between two random halves of the reference = {result['reference_split_fd_mel']:.2f}"
        )
    lines.append("")
    head = f"{'':22s}" + "".join(f"{lab:>{w + 2}s}" for lab in labs)
    lines.append(head)
    lines.append(f"{'items':22s}" + "".join(f"{sets[lab]['items']:>{w + 2}d}" for lab in labs))
    for key, label in (("fd_mel", "FD log-mel (to ref)"), ("mel_mean_abs_diff_db", "|Δ mean mel| dB")):
        lines.append(
            f"{label:22s}" + "".join(f"{sets[lab].get(key, float('nan')):>{w + 2}.2f}" for lab in labs)
        )
    stat_names = next((list(s["stats"]) for s in sets.values() if s["stats"]), [])
    for name in stat_names:
        lines.append(
            f"{name + ' p50':22s}" + "".join(f"{sets[lab]['stats'][name]['p50']:>{w + 2}.3f}" for lab in labs)
        )
        lines.append(
            f"{'  KS to ref':22s}"
            + "".join(f"{sets[lab].get('ks', {}).get(name, float('nan')):>{w + 2}.3f}" for lab in labs)
        )
    return "\n".join(lines)


def plot_compare(result: dict[str, Any], path: str | os.PathLike[str]) -> pathlib.Path:
    """Write a PNG: mean log-mel profiles (± spread) and distributions of centroid, RMS and attack."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0, 0]
    for lab, s in result["sets"].items():
        if not s["mel_mean"]:
            continue
        mu, sd = np.asarray(s["mel_mean"]), np.asarray(s["mel_std"])
        ax.plot(mu, label=f"{lab} ({s['items']})")
        ax.fill_between(np.arange(len(mu)), mu - sd, mu + sd, alpha=0.15)
    ax.set_xlabel("mel band")
    ax.set_ylabel("time-averaged level (dB)")
    ax.set_title("log-mel profile: mean ± spread across items")
    ax.legend(fontsize=8)
    for ax, name, log in (
        (axes[0, 1], "centroid_hz", True),
        (axes[1, 0], "rms_db", False),
        (axes[1, 1], "attack_s", False),
    ):
        for lab, s in result["sets"].items():
            st = s["stats"].get(name)
            if st:
                ax.plot(st["quantiles"], _QUANTILES / 100, label=lab)
        ax.set_xlabel(name)
        ax.set_ylabel("fraction of items")
        ax.set_title(f"{name}: cumulative distribution")
        if log:
            ax.set_xscale("log")
        ax.legend(fontsize=8)
    return _save_figure(fig, path)
