"""Data pipeline: the engine's training images/s against the same model's compute alone.

    python benchmarks/data_pipeline.py                 # the embedded recipes' runs, one thread
    python benchmarks/data_pipeline.py --json out.json

For each run kind of the embedded scale (MoCo v2 / LEAD's student pipeline: two augmented views of
each world image, with torchvision's per-image transforms (``augment: "pil"``, the paper sets) and
with the batched uint8 augmentation of ``fgkd.data.batch_augment`` (``augment: "batched"``, the
embedded set); MaKD's classifier: one view), in one process:

- *engine*: ``fgkd.train.engine.train`` for two epochs, the second timed (its ``images_per_second``):
  the loader, the per-sample augmentation, collation, the step;
- *compute*: the same method on the same batches, drawn once from the engine's loader before the
  clock starts, timed over the same number of steps: forward, loss, backward and the SGD step only.

The ratio engine / compute is the share of training time the model's own compute takes; the
target is >= 0.85 (data work hidden or cheap). Each variant takes turns for ``--rounds`` rounds and
keeps its best, so a burst of other load does not decide it. Both run with the runs' own threads
(``threads`` of the config, 1 by default) under :func:`fgkd.determinism.deterministic`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fgkd.determinism import deterministic  # noqa: E402
from fgkd.methods import LeadConfig, MakdConfig, as_method, make_method  # noqa: E402
from fgkd.train import ddp  # noqa: E402
from fgkd.train.engine import make_loader, seed_everything, to_device, train  # noqa: E402

WORLD = {"num_classes": 20, "image_size": 32, "train_per_class": 30}


def variants(classes: int, per_class: int) -> dict[str, object]:
    """The embedded recipes' run kinds (params/embedded/lead.yaml and makd.yaml), two epochs each."""
    world = {**WORLD, "num_classes": classes, "train_per_class": per_class}
    moco = as_method(LeadConfig(dataset="world:bird", dataset_options=world, image_size=32, backbone="resnet18",
                                pretrained=False, proj_hidden_dim=512, proj_dim=64, queue_size=1024,
                                moco_momentum=0.99, batch_size=64, epochs=2, teacher="embedded-M",
                                llm_backend="template", num_workers=0, progress=False, device="cpu"), "moco")
    makd = MakdConfig(dataset="world:bird", dataset_options={**world, "test_per_class": 2}, image_size=32,
                      backbone="resnet18", alpha=0.0, batch_size=32, lr=0.02, epochs=2, llm_backend="template",
                      num_workers=0, progress=False, device="cpu")
    return {"MoCo v2 / LEAD student (two views, per-image PIL transforms)": moco,
            "MoCo v2 / LEAD student (two views, batched uint8 augmentation)": moco.replace(augment="batched"),
            "MaKD classifier (one view)": makd}


def engine_rate(cfg, folder: Path) -> float:
    result = train(make_method(cfg), folder)
    return result.history[-1]["images_per_second"]


def compute_rate(cfg) -> float:
    """Images/s of the training steps alone, on the batches of the engine's second epoch."""
    method = make_method(cfg)
    device = torch.device("cpu")
    with deterministic(getattr(cfg, "threads", 1), device):
        seed_everything(cfg.seed)
        method.build(device, for_training=True)
        method.device = device
        method.forward_module = method.module
        batches = [to_device(b, device) for b in make_loader(method, 1, ddp.current())]
        optimizer = torch.optim.SGD(method.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                    weight_decay=cfg.weight_decay)
        method.module.train()
        images = 0
        start = time.perf_counter()
        for batch in batches:
            loss = method.training_step(batch)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            method.on_after_step()
            images += method.num_images(batch)
        return images / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("FGKD_CACHE_DIR", str(Path(tmp) / "cache"))
        kinds = variants(args.classes, args.per_class)
        rates: dict[str, dict[str, list[float]]] = {name: {"engine": [], "compute": []} for name in kinds}
        for r in range(args.rounds):
            for name, cfg in kinds.items():
                rates[name]["engine"].append(engine_rate(cfg, Path(tmp) / f"{cfg.config_hash()}-{r}"))
                rates[name]["compute"].append(compute_rate(cfg))
        for name, got in rates.items():
            engine, compute = max(got["engine"]), max(got["compute"])
            rows[name] = {"engine_images_per_s": round(engine, 1), "compute_images_per_s": round(compute, 1),
                          "ratio": round(engine / compute, 3), "target": 0.85, "meets_target": engine / compute >= 0.85}
    out = {"benchmark": "data_pipeline", "threads": 1, "torch": torch.__version__, "rows": rows}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
