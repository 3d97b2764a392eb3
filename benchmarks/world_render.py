"""Rendering throughput of the procedural world (``fgkd.data.world.render_images``) on ONE core.

    python benchmarks/world_render.py                  # 64 px, 1024 images per domain, best of 3
    python benchmarks/world_render.py --image-size 32 --images 4096 --rounds 5

Thread pools (OpenMP/BLAS/torch) are limited to one thread before numpy is imported and the process
is pinned to one CPU, so the number is images per second of one core. Each domain renders the same
attribute rows (a real target split's ground truth) ``--rounds`` times and keeps its best round, so a
burst of load from other processes does not decide the result; CPU time (``time.process_time``) is
printed beside wall time because on a shared machine it is the closer measure of the code's own
speed. The cache is not involved: this times drawing only. Target: at least 1,000 images/s at 64 px.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fgkd.data.world import DOMAINS, World, WorldConfig, render_images  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=1024, help="images per domain and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    results = {}
    for domain in DOMAINS:
        world = World(WorldConfig(domain=domain, num_classes=32, image_size=args.image_size,
                                  train_per_class=-(-args.images // 32)))
        attributes = world.ground_truth("train")[1][: args.images]
        render_images(domain, attributes[:64], args.image_size)  # warm-up: caches, allocator
        wall, cpu = [], []
        for r in range(args.rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            render_images(domain, attributes, args.image_size, seed=r)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        results[domain] = {"images_per_s_wall": len(attributes) / min(wall),
                           "images_per_s_cpu": len(attributes) / min(cpu)}
        print(f"{domain:9s} {args.image_size} px: {results[domain]['images_per_s_wall']:7.0f} images/s "
              f"(wall, best of {args.rounds}), {results[domain]['images_per_s_cpu']:7.0f} images/s (CPU time)")
    mean = float(np.mean([r["images_per_s_wall"] for r in results.values()]))
    print(f"mean over domains: {mean:.0f} images/s on one core (target >= 1000 at 64 px)")
    if args.json:
        args.json.write_text(json.dumps({"image_size": args.image_size, "results": results}, indent=2))


if __name__ == "__main__":
    main()
