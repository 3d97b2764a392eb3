"""MaKD's cost over its CE baseline (MaKD section 5.5): parameters, training seconds per epoch, inference seconds.

    python benchmarks/makd_cost.py                         # the embedded makd_cost recipe on CPU
    python benchmarks/makd_cost.py --params paper --device cuda --rounds 3

Base (alpha = 0, C outputs) and MaKD (C + Q outputs, CE + alpha BCE) are trained through the real
engine (``fgkd.train.engine.train``) in one process, taking turns for ``--rounds`` rounds; each
keeps its best round, so a burst of load from other processes does not decide the comparison.
Training time is the last of ``--epochs`` epochs (the first pays warm-up); inference is one pass
over the test split under the test transform (``MakdMethod.extract``). The aspect targets come
from the oracle scorer: what a step costs does not depend on where q came from, and the MLLM's
scoring is a one-off, cached cost that the paper does not count either.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fgkd.experiments import makd  # noqa: E402
from fgkd.reproduce.sets import resolve_params_set  # noqa: E402
from fgkd.runs import build_method  # noqa: E402
from fgkd.train.engine import resolve_device, train  # noqa: E402


def measure(cfg, run_dir: Path) -> dict[str, float]:
    """Train ``cfg`` into ``run_dir`` and time its last epoch and one inference pass."""
    method = build_method(cfg, resolve_device(cfg.device), for_training=True)
    result = train(method, run_dir)
    inference = float(method.extract("test")["inference_seconds"])
    return {"params (M)": sum(p.numel() for p in method.module.parameters()) / 1e6,
            "train s/epoch": float(result.history[-1]["seconds"]), "inference s": inference}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", default="embedded", help="params set whose makd_cost.yaml gives the recipe")
    p.add_argument("--dataset", default=None, help="default: the notebook's dataset")
    p.add_argument("--device", default=None, help="default: the recipe's")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run; the last one is timed")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repetitions; the best round counts")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.epochs < 2 or args.rounds < 1:
        raise SystemExit("--epochs must be >= 2 (the first is warm-up) and --rounds >= 1")

    pset = resolve_params_set(args.params)
    params = {"params_set": pset.ref, **pset.read("makd_cost")}
    recipe = makd.recipe_from(params)
    dataset = args.dataset or params.get("dataset", "world:bird")
    ours = recipe.config(dataset).replace(scorer="oracle", scorer_options={}, epochs=args.epochs, progress=False,
                                          **({"device": args.device} if args.device else {}))
    variants = {"Base": makd.base_config(ours), "Ours": ours}
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, cfg in variants.items():
                row = measure(cfg, Path(tmp) / f"{name}-{r}")
                kept = best.setdefault(name, row)
                for key in ("train s/epoch", "inference s"):
                    kept[key] = min(kept[key], row[key])
    ratio = {key: best["Ours"][key] / best["Base"][key] for key in best["Base"]}
    print(f"{dataset}, {ours.backbone}, {ours.num_aspects} aspects, batch {ours.batch_size}, "
          f"best of {args.rounds} rounds (params/{args.params}/makd_cost.yaml recipe)")
    print(f"{'':8}{'params (M)':>12}{'train s/epoch':>15}{'inference s':>13}")
    for name, row in [*best.items(), ("Ours/Base", ratio)]:
        print(f"{name:8}{row['params (M)']:12.4f}{row['train s/epoch']:15.3f}{row['inference s']:13.3f}")
    if args.json:
        args.json.write_text(json.dumps({"dataset": dataset, "backbone": ours.backbone, "aspects": ours.num_aspects,
                                         "rounds": args.rounds, "best": best, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
