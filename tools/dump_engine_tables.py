"""Regenerate `src/synthmatch/vital/engine_tables.json` from the installed `vita`.

The parameter space (`synthmatch.vital.spec`) reads this table so that importing the spec never
needs the engine. Run this after upgrading `vita` and review the diff:

    python tools/dump_engine_tables.py
"""

from __future__ import annotations

import gzip
import json
import pathlib

import vita

OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "synthmatch" / "vital"


def main() -> None:
    synth = vita.Synth()
    controls = {}
    for name in sorted(synth.get_controls()):
        d = synth.get_control_details(name)
        controls[name] = {
            "min": float(d.min),
            "max": float(d.max),
            "default": float(d.default_value),
            "scale": str(d.scale).split(".")[-1],
            "discrete": bool(d.is_discrete),
            "units": d.display_units,
            "display_multiply": float(d.display_multiply),
            "post_offset": float(d.post_offset),
            "display_name": d.display_name,
            "options": list(d.options) if d.options else [],
        }
    tables = {
        "vita_version": vita.__version__,
        "controls": controls,
        "modulation_sources": list(vita.get_modulation_sources()),
        "modulation_destinations": list(vita.get_modulation_destinations()),
    }
    (OUT / "engine_tables.json").write_text(json.dumps(tables, indent=1, sort_keys=True))
    init = vita.Synth()
    init.load_init_preset()
    with gzip.open(OUT / "init_preset.json.gz", "wt") as fh:
        fh.write(init.to_json())
    print(
        f"{len(controls)} controls, {len(tables['modulation_sources'])} sources, "
        f"{len(tables['modulation_destinations'])} destinations -> {OUT}"
    )


if __name__ == "__main__":
    main()
