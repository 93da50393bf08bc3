"""How much the stereo-only controls move the mono score: are they worth searching?

Every score synthmatch computes is on the mono mean of the render (the benchmark's definition).
For each of the first N presets of the bundled library whose oscillator is on, this renders the
preset with one control set to its low and its high end, and prints the MSS-mel (dB) between the
two renders' mono means: a control no score can hear moves it by 0.

    python tools/stereo_audibility.py [--n 40] [--workers 2]
"""

from __future__ import annotations

import argparse

import numpy as np

#: Controls every search keeps, for scale: how much a control that obviously matters moves it.
REFERENCE = ["osc_1_level", "osc_1_unison_detune", "osc_1_wave_frame", "filter_1_cutoff", "env_1_decay"]


def main() -> None:
    from synthmatch.metrics import mss_mel
    from synthmatch.render.pool import RenderPool
    from synthmatch.render.probe import Probe
    from synthmatch.search.library import Library, default_library_path
    from synthmatch.vital.spec import default_space

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="library presets to try")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    space = default_space()
    probe = Probe(note=60, velocity=0.8, note_seconds=1.0, render_seconds=2.0)
    lib = Library.load(default_library_path())
    controls = [f"osc_{k}_{c}" for k in (1, 2, 3) for c in ("pan", "stereo_spread")] + ["sample_pan"]
    controls += REFERENCE
    moved: dict[str, list[float]] = {c: [] for c in controls}
    with RenderPool(workers=args.workers) as pool:
        for i in range(len(lib)):
            if min(len(v) for v in moved.values()) >= args.n:
                break
            p = lib.preset(i)
            tries = []
            for c in controls:
                owner = {"sample": "sample_on", "osc": c[:6] + "on", "filter": "filter_1_on"}.get(
                    c.split("_")[0], "osc_1_on"
                )
                if len(moved[c]) >= args.n or p.values.get(owner, 0.0) < 0.5:
                    continue
                s = space[c]
                tries.append((c, p.with_values(**{c: s.min}), p.with_values(**{c: s.max})))
            outs = pool.render([q for _, lo, hi in tries for q in (lo, hi)], probe)
            for j, (c, _, _) in enumerate(tries):
                lo, hi = outs[2 * j], outs[2 * j + 1]
                if lo.ok and hi.ok and np.max(np.abs(lo.mono)) > 1e-4:
                    moved[c].append(mss_mel(lo.mono, hi.mono, probe.sample_rate))
    print("| control | presets | median MSS-mel, low vs high end (dB) | max | share > 0.1 dB |")
    print("| --- | --- | --- | --- | --- |")
    for c, v in moved.items():
        if v:
            a = np.asarray(v)
            print(f"| {c} | {len(a)} | {np.median(a):.3f} | {a.max():.3f} | {np.mean(a > 0.1):.2f} |")


if __name__ == "__main__":
    main()
