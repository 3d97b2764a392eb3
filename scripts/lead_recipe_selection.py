"""Choose the embedded LEAD recipe's learning rate and epochs on held-out *training* images, never on test.

Each candidate trains MoCo v2 and LEAD from the recipe (``params/<set>/lead.yaml``) with a share of
each class's training images held out of the linear probe (``validation_fraction``; the
self-supervised phase still sees them, unlabelled, as it sees every training image). A candidate's
score is the probe's Top-1 on those held-out images (``val_top1``: at the probe epoch they pick),
averaged over both methods, the seeds and the domains: the recipe is chosen for the students it
gives, not for LEAD's margin over MoCo v2. The frozen init, evaluated the same way, is the first row.
Runs go through the run store (their keys hold ``validation_fraction``, so they are not the
notebooks' runs). Test-split numbers are never read here.

    python scripts/lead_recipe_selection.py                                 # lr 0.03 0.01 0.003, 5 epochs
    python scripts/lead_recipe_selection.py --lrs 0.01 0.003 --epochs 5 10 --seeds 0 1 --jobs 2 --csv sel.csv
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from fgkd.experiments import lead
from fgkd.methods import as_method
from fgkd.runs import get_or_train

DOMAINS = ("world:bird", "world:car", "world:aircraft")


def candidate(recipe: lead.Recipe, dataset: str, method: str, lr: float, epochs: int, seed: int,
              fraction: float):
    cfg = recipe.config(dataset, lr=lr, epochs=epochs, seed=seed, validation_fraction=fraction)
    return cfg if method == "lead" else as_method(cfg, method)


def _train(cfg) -> float:
    return float(get_or_train(cfg).metrics["val_top1"])


def _untrained(cfg) -> float:
    return float(lead.evaluate_untrained(cfg)["val_top1"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="embedded", help="params set whose lead.yaml gives the recipe")
    parser.add_argument("--datasets", nargs="+", default=list(DOMAINS))
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.03, 0.01, 0.003])
    parser.add_argument("--epochs", type=int, nargs="+", default=None, help="default: the recipe's epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each")
    parser.add_argument("--csv", type=Path, help="also write the per-run table here")
    args = parser.parse_args(argv)

    recipe = lead.recipe_from({"params_set": args.params})
    epochs = args.epochs or [recipe.epochs]
    grid = list(itertools.product(args.datasets, ("moco", "lead"), args.lrs, epochs, args.seeds))
    configs = [candidate(recipe, d, m, lr, e, s, args.validation_fraction) for d, m, lr, e, s in grid]
    inits = [(d, s) for d in args.datasets for s in args.seeds]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        init_scores = list(pool.map(_untrained, [candidate(recipe, d, "moco", recipe.lr, recipe.epochs, s,
                                                            args.validation_fraction) for d, s in inits]))
        scores = []
        for done, score in enumerate(pool.map(_train, configs), 1):
            scores.append(score)
            print(f"[{done}/{len(configs)}] {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    rows = [{"dataset": d, "method": "init", "lr": 0.0, "epochs": 0, "seed": s, "val_top1": v}
            for (d, s), v in zip(inits, init_scores)]
    rows += [{"dataset": d, "method": m, "lr": lr, "epochs": e, "seed": s, "val_top1": v}
             for (d, m, lr, e, s), v in zip(grid, scores)]
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    pd.set_option("display.width", 160)
    per = table.pivot_table(index=["lr", "epochs"], columns=["dataset", "method"], values="val_top1", aggfunc="mean")
    print("held-out training images, probe Top-1 (%), mean over seeds:")
    print(per.round(2).to_string())
    trained = table[table.method != "init"]
    score = trained.groupby(["lr", "epochs"])["val_top1"].agg(["mean", "std", "count"])
    print("\ncandidate score (mean over methods, domains, seeds):")
    print(score.round(2).to_string())
    best = score["mean"].idxmax()
    print(f"\nchosen: lr {best[0]}, epochs {best[1]} (the init alone: {table[table.method == 'init'].val_top1.mean():.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
