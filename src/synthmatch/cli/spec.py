"""`synthmatch spec`: print the parameter space (or what it leaves out) as a table or JSON."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spec", help="show the declared parameter space")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--excluded", action="store_true", help="list the controls left out, with the reason")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from synthmatch.vital.spec import default_space, excluded_controls

    if args.excluded:
        for name, reason in excluded_controls().items():
            print(f"{name:40s} {reason}")
        return 0
    space = default_space()
    if args.json:
        print(
            json.dumps({"spec_hash": space.spec_hash, "params": [s.to_dict() for s in space.specs]}, indent=1)
        )
        return 0
    print(f"# {len(space)} parameters, spec hash {space.spec_hash}")
    for s in space.specs:
        print(
            f"{s.name:36s} {s.kind:11s} [{s.min:g}, {s.max:g}] default={s.default:g} module={s.module} prior={s.prior} w={s.weight:g}"
        )
    return 0
