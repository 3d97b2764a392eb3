"""Does MaKD beat its CE baseline, and do real aspect targets beat random ones, across training regimes?

Runs Base (alpha = 0), MaKD and MaKD with random targets for every combination of backbone, epochs,
training fraction and seed, all from one params set's MaKD recipe (default: the embedded
``makd_main.yaml``), and prints test Top-1 with the gaps. Runs go through the run store, so runs a
notebook or an earlier call trained are read, not retrained.

    python scripts/makd_regimes.py                                   # the recipe as shipped
    python scripts/makd_regimes.py --epochs 5 15 --backbones resnet18 mobilenet_v1 --seeds 0 1
    python scripts/makd_regimes.py --epochs 30 --fractions 0.4 --seeds 0 1 2 --csv makd_regimes.csv  # docs/embedded_makd.md
    python scripts/makd_regimes.py --epochs 15 --set scorer=oracle oracle_noise=0.0 alpha=5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from fgkd.experiments import makd
from fgkd.reproduce.sets import resolve_params_set
from fgkd.runs import get_or_train


def variants(ours):
    """The three runs of a row, from the grids the notebooks use: Base (alpha = 0), MaKD, random targets."""
    return {"Base": makd.base_config(ours), "MaKD": ours, "MaKD random": makd.target_grid(ours)["random"]}


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["alpha=5", "world_test_per_class=100"]`` as a dict, values read as YAML scalars; the
    recipe validates names and types."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        if key not in makd.Recipe.field_names():
            raise SystemExit(f"--set {key}: not a MaKD recipe key; one of {', '.join(makd.Recipe.field_names())}")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="embedded", help="params set whose makd_main.yaml gives the recipe")
    parser.add_argument("--dataset", default="world:bird")
    parser.add_argument("--backbones", nargs="+", default=None, help="default: the recipe's backbone")
    parser.add_argument("--epochs", type=int, nargs="+", default=None, help="default: the recipe's epochs")
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0], help="training fractions")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="recipe changes, e.g. alpha=5 world_test_per_class=100 (types as in the params file)")
    parser.add_argument("--csv", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    pset = resolve_params_set(args.params)
    params = {"params_set": pset.ref, **pset.read("makd_main"), **parse_overrides(args.overrides)}
    base_recipe = makd.recipe_from(params)
    backbones = args.backbones or [base_recipe.backbone]
    epochs_list = args.epochs or [base_recipe.epochs]
    makd.check_names(datasets=[args.dataset], backbones=backbones)

    rows = []
    for backbone in backbones:
        for epochs in epochs_list:
            for fraction in args.fractions:
                for seed in args.seeds:
                    recipe = makd.recipe_from({**params, "backbone": backbone, "epochs": epochs, "seeds": str(seed)})
                    row = {"backbone": backbone, "epochs": epochs, "fraction": fraction, "seed": seed}
                    for label, cfg in variants(recipe.config(args.dataset, train_fraction=fraction)).items():
                        start = time.perf_counter()
                        run = get_or_train(cfg)
                        row[label] = float(run.metrics["top1"])
                        row[f"{label} s"] = round(time.perf_counter() - start, 1)
                    row["MaKD - Base"] = row["MaKD"] - row["Base"]
                    row["MaKD - random"] = row["MaKD"] - row["MaKD random"]
                    rows.append(row)
                    print(", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                          flush=True)
    table = pd.DataFrame(rows)
    shown = table[[c for c in table.columns if not c.endswith(" s")]]
    print(f"\n{args.dataset}, test Top-1 (%), recipe of params/{pset.name}/makd.yaml")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
