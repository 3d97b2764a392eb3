"""The GPU figures of fgkd in one JSON, in under 8 minutes on one GPU (issue: the GPU first day).

    python benchmarks/gpu_check.py --json gpu_check.json          # on a GPU
    python benchmarks/gpu_check.py --dry-run --json check.json    # the same code at toy sizes on CPU (CI)

Measured, each with random weights (cost, not knowledge, is measured; nothing is downloaded):

- ``matmul``: the device's bf16 matmul rate (fp32 on CPU), FLOP/s of a large ``torch.mm``.
- ``training``: MoCo v2 and LEAD with the cached and the online ViT-B/16 teacher through fgkd's
  engine (``benchmarks/train_throughput.py``): images/s at 224 px, ResNet50, batch 64, bf16
  autocast and channels-last, and MoCo v2's achieved FLOP/s as a fraction of ``matmul``.
- ``clip_encode``: CLIP ViT-B/16 image encoding, images/s (batch 256, bf16 autocast).
- ``vlm``: a VLM of InternVL3-8B-hf's size (a 300M ViT at 448 px and a 7B-sized language model in
  LLaVA's layout, built from a config on the device), (image, question) pairs/s through fgkd's
  scorer, naive (one full forward per pair) against batched (shared image prefix), the largest
  difference between the two, and the peak GPU memory.

``--dry-run`` runs every section at toy sizes on CPU (ResNet18 at 32 px, the embedded-S CLIP, the
tiny random LLaVA), so CI keeps the script working; its numbers mean nothing. Record GPU results,
with the date and the GPU, in docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "teachers"))  # tiny_vlm: the random VLM builder

QUESTIONS = ["Is the bird red?", "Does the bird have a striped body?", "Are the wings blue?", "Is the tail long?",
             "Is the beak yellow?", "Is the bird in a forest?", "Is the bird flying?", "Is there water nearby?"]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training(device: torch.device, dry_run: bool, tmp: Path) -> dict:
    """MoCo v2 and LEAD (cached, online teacher) through the engine: train_throughput's numbers."""
    out = tmp / "train.json"
    if dry_run:
        args = ["--device", "cpu", "--image-size", "32", "--backbone", "resnet18", "--small-input",
                "--teacher-arch", "embedded-S", "--batch-size", "4", "--steps", "2", "--rounds", "1",
                "--matmul-size", "256"]
    else:
        args = ["--device", str(device), "--image-size", "224", "--backbone", "resnet50", "--teacher-arch",
                "ViT-B-16", "--batch-size", "64", "--steps", "20", "--rounds", "2", "--num-workers", "8"]
    _module("train_throughput").main(args + ["--json", str(out)])
    result = json.loads(out.read_text())
    result["moco_fraction_of_matmul"] = result["achieved_flops"] / result["matmul_flops"]
    result["settings"] = " ".join(args)
    return result


def clip_encode(device: torch.device, dry_run: bool) -> dict:
    """CLIP image encoding images/s on preprocessed batches (bf16 autocast on CUDA)."""
    import open_clip

    from fgkd.teachers.clip import register_embedded_configs

    register_embedded_configs()
    arch, side, batch, repeats = ("embedded-S", 32, 8, 2) if dry_run else ("ViT-B-16", 224, 256, 10)
    model = open_clip.create_model(arch).to(device).eval()
    images = torch.rand(batch, 3, side, side, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    with torch.inference_mode(), autocast:
        model.encode_image(images)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model.encode_image(images)
        _sync(device)
    seconds = time.perf_counter() - start
    return {"arch": arch, "image_size": side, "batch": batch, "images_per_second": batch * repeats / seconds}


def vlm(device: torch.device, dry_run: bool, images: int = 2) -> dict:
    """Pairs/s of fgkd's VLM scorer, naive vs batched, on a random model of InternVL3-8B's size."""
    import numpy as np
    from PIL import Image
    from tiny_vlm import build_tiny_vlm

    import fgkd.teachers.vlm.loading as loading
    from fgkd.scorers import get_scorer

    size = "tiny" if dry_run else "internvl3-8b"
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model, processor = build_tiny_vlm(size=size, init_std=0.2 if dry_run else 0.02, device=str(device), dtype=dtype)
    model_id = f"random-llava-{size}"
    options = {"model_id": model_id, "device": str(device), "dtype": "float32" if dtype == torch.float32 else "bfloat16",
               "question_batch_size": 16}
    with loading.preloaded_vlm(loading.VlmConfig(**options), model, processor):  # the in-memory model: nothing on disk
        scorer = get_scorer("vlm", **options)
        side = processor.image_processor.crop_size["height"]
        rng = np.random.default_rng(0)
        pictures = [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(images)]
        questions = QUESTIONS * (1 if dry_run else 4)  # 32 questions at full size
        scorer.score(pictures[:1], questions[:2], batched=True)  # warm-up
        timings = {}
        scores = {}
        for mode in (True, False):
            _sync(device)
            start = time.perf_counter()
            scores[mode] = scorer.score(pictures, questions, batched=mode)
            _sync(device)
            timings[mode] = time.perf_counter() - start
    pairs = images * len(questions)
    result = {"model": f"random LLaVA layout at {size} sizes", "parameters": int(sum(p.numel() for p in model.parameters())),
              "dtype": str(dtype).replace("torch.", ""), "images": images, "questions": len(questions),
              "naive_pairs_per_second": pairs / timings[False], "batched_pairs_per_second": pairs / timings[True],
              "speedup": timings[False] / timings[True],
              "max_abs_diff": float(np.abs(scores[True] - scores[False]).max())}
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every section at toy sizes on CPU (CI)")
    parser.add_argument("--device", default="cuda", help="the GPU to measure (ignored with --dry-run)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--skip", nargs="*", default=[], choices=["training", "clip_encode", "vlm"])
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device; run it on a GPU, or with --dry-run to check the script on CPU")
    device = torch.device("cpu" if args.dry_run else args.device)
    start = time.perf_counter()
    result: dict = {"date": time.strftime("%Y-%m-%d"), "dry_run": args.dry_run, "device": str(device),
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                    "torch": torch.__version__}
    train_throughput = _module("train_throughput")
    result["matmul"] = {"dtype": "bfloat16" if device.type == "cuda" else "float32",
                        "flops": train_throughput.matmul_rate(device, torch.bfloat16 if device.type == "cuda"
                                                              else torch.float32, 8192 if device.type == "cuda" else 256)}
    with tempfile.TemporaryDirectory() as tmp:
        sections = {"training": lambda: training(device, args.dry_run, Path(tmp)),
                    "clip_encode": lambda: clip_encode(device, args.dry_run), "vlm": lambda: vlm(device, args.dry_run)}
        for name, run in sections.items():
            if name in args.skip:
                continue
            t = time.perf_counter()
            result[name] = run()
            result[name]["seconds"] = time.perf_counter() - t
    result["seconds"] = time.perf_counter() - start
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
