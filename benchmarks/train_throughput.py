"""Training throughput of MoCo v2, LEAD with the online teacher and LEAD with the cached teacher.

    python benchmarks/train_throughput.py                       # CPU-sized defaults
    python benchmarks/train_throughput.py --device cuda --image-size 224 --backbone resnet50 \
        --teacher-arch ViT-B-16 --batch-size 64 --steps 50

All three run through the real engine (``fgkd.train.engine.train``: data loading, augmentation,
AMP/channels-last on CUDA) in one process on the same synthetic images, so their images/s compare.
Each run is two epochs of ``--steps`` steps timed on the second (the first pays warm-up and cuDNN
autotuning); the variants take turns for ``--rounds`` rounds and each keeps its best round, so a
burst of load from other processes does not decide the comparison. The target: the cached teacher within 5 % of MoCo v2 (it adds one table lookup
and a [N, C] KL per step); the online teacher's cost is a full teacher forward per step.

The student step's FLOPs (forward + backward of the query encoder, forward of the key encoder and
the loss) are counted once with ``torch.utils.flop_counter.FlopCounterMode``; achieved FLOP/s =
FLOPs per step x steps/s, shown as a fraction of the machine's measured matmul rate (a large
``torch.mm`` in the training dtype: bf16 on CUDA with AMP, fp32 on CPU). The teacher is an
open_clip architecture with random weights: its cost, not its knowledge, is what is measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fgkd.data import register_dataset  # noqa: E402
from fgkd.methods import LeadConfig, as_method, make_method  # noqa: E402
from fgkd.methods.moco import MocoMethod  # noqa: E402
from fgkd.train.engine import autocast_settings, resolve_device, seed_everything, to_device, train  # noqa: E402


class SyntheticImages(Dataset):
    """``n`` random RGB images (PIL, ``size`` px) in ``num_classes`` classes: throughput needs pixels,
    not content."""

    def __init__(self, split: str, transform=None, n: int = 256, size: int = 32, num_classes: int = 10):
        rng = np.random.default_rng(0 if split == "train" else 1)
        self.images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
        self.targets = [i % num_classes for i in range(n)]
        self.classes = [f"class {c}" for c in range(num_classes)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        image = Image.fromarray(self.images[i])
        return (self.transform(image) if self.transform else image), self.targets[i]


def _synthetic(root, split, transform=None, n: int = 256, size: int = 32, num_classes: int = 10):
    return SyntheticImages(split, transform, n, size, num_classes)


def random_teacher(arch: str, device: torch.device):
    """An open_clip ``arch`` with random weights as a frozen ClipTeacher (timing only)."""
    import open_clip

    from fgkd.teachers.clip import ClipTeacher, register_embedded_configs

    register_embedded_configs()
    model, _, preprocess = open_clip.create_model_and_transforms(arch)
    tokenizer = open_clip.get_tokenizer(arch)
    return ClipTeacher(model, tokenizer, preprocess, name=arch, provenance={"weights": "random (benchmark)"},
                       device=device)


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 10) -> float:
    """Measured FLOP/s of an ``n x n`` @ ``n x n`` ``torch.mm`` (2 n^3 FLOPs each)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        torch.mm(a, b)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def student_step_flops(cfg: LeadConfig, device: torch.device) -> int:
    """FLOPs of one MoCo v2 training step (forward of both encoders, loss, backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    seed_everything(0)
    method = MocoMethod(as_method(cfg, "moco"))
    method.build(device)
    method.module.to(device)
    method.device = device
    method.forward_module = method.module
    batch = to_device(torch.utils.data.default_collate([method.train_set[i] for i in range(cfg.batch_size)]),
                      device)
    amp_on, amp_dtype = autocast_settings(device, cfg.amp)
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_on):
            loss = method.training_step(batch)["loss"]
        loss.backward()
    return counter.get_total_flops()


def step_cpu_seconds(method: LeadMethod, device: torch.device, steps: int) -> float:
    """Process CPU seconds per training step (forward, loss, backward, SGD step) on fixed batches.

    CPU time, unlike wall time, does not grow when other processes share the cores, so on a busy
    CPU machine this still resolves a few-percent difference between variants. Data loading is
    left out (the batches are collated once).
    """
    seed_everything(0)
    method.build(device)
    method.module.to(device).train()
    method.device = device
    method.forward_module = method.module
    opt = torch.optim.SGD(method.parameters(), lr=0.01, momentum=0.9)
    n = method.cfg.batch_size
    batches = [torch.utils.data.default_collate([method.train_set[(i * n + j) % len(method.train_set)]
                                                 for j in range(n)]) for i in range(2)]
    for i in range(steps + 1):
        if i == 1:  # the first step warms up
            start = time.process_time()
        loss = method.training_step(batches[i % 2])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.process_time() - start) / steps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--small-input", action="store_true")
    p.add_argument("--teacher-arch", default="embedded-M", help="open_clip architecture (random weights)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=8, help="steps per epoch; the second epoch is timed")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repetitions; the best round counts")
    p.add_argument("--num-classes", type=int, default=20)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--matmul-size", type=int, default=None, help="n of the n x n matmul (default 8192 GPU, 2048 CPU)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    n_images = args.steps * args.batch_size
    register_dataset("bench:synthetic", _synthetic, uses_root=False, overwrite=True)
    teacher = random_teacher(args.teacher_arch, device)
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("FGKD_CACHE_DIR", str(Path(tmp) / "cache"))
        descriptions = Path(tmp) / "descriptions.json"
        descriptions.write_text(json.dumps({f"class {c}": f"a photo of class {c}, a kind of object"
                                            for c in range(args.num_classes)}))
        base = LeadConfig(
            dataset="bench:synthetic", dataset_options={"n": n_images, "size": args.image_size,
                                                        "num_classes": args.num_classes},
            image_size=args.image_size, backbone=args.backbone, pretrained=False, small_input=args.small_input,
            proj_dim=teacher.embed_dim, queue_size=max(4096, args.batch_size), batch_size=args.batch_size,
            epochs=2, teacher=args.teacher_arch, llm_backend="file", llm_options={"descriptions": str(descriptions)},
            num_workers=args.num_workers, device=str(device.type), progress=False)
        variants = {
            "MoCo v2": as_method(base, "moco"),
            "LEAD, online teacher": base.replace(teacher_mode="online"),
            "LEAD, cached teacher": base.replace(teacher_mode="cached"),
        }

        def method_of(cfg):  # MoCo v2 has no teacher; LEAD's is handed in
            return make_method(cfg, teacher=teacher) if cfg.method == "lead" else make_method(cfg)

        rounds = {name: [] for name in variants}
        for r in range(args.rounds):
            for name, cfg in variants.items():
                result = train(method_of(cfg), Path(tmp) / f"{cfg.config_hash()}-{r}")
                rounds[name].append(result.history[-1]["images_per_second"])
        rows = {name: max(values) for name, values in rounds.items()}

        flops = student_step_flops(base, device)
        cpu = {}
        if device.type == "cpu":
            for r in range(args.rounds):
                for name, cfg in variants.items():
                    cpu.setdefault(name, []).append(step_cpu_seconds(method_of(cfg), device,
                                                                     args.steps))
            cpu = {name: min(values) for name, values in cpu.items()}
    amp_on, amp_dtype = autocast_settings(device, base.amp)
    dtype = amp_dtype if amp_on else torch.float32
    n = args.matmul_size or (8192 if device.type == "cuda" else 2048)
    peak = matmul_rate(device, dtype, n)
    moco = rows["MoCo v2"]
    achieved = flops * moco / args.batch_size

    print(f"\ndevice {device}, {torch.get_num_threads()} CPU threads, {args.backbone}"
          f"{' (small input)' if args.small_input else ''} at {args.image_size} px, batch {args.batch_size}, "
          f"teacher {args.teacher_arch} (d={teacher.embed_dim}, {teacher.image_size} px), "
          f"{args.steps} timed steps per variant, best of {args.rounds} rounds\n")
    medians = {name: float(np.median(values)) for name, values in rounds.items()}
    print(f"{'variant':<24}{'images/s (best)':>16}{'vs MoCo v2':>12}{'median':>10}{'vs MoCo v2':>12}")
    for name, ips in rows.items():
        med = medians[name]
        print(f"{name:<24}{ips:>16.1f}{ips / moco:>12.1%}{med:>10.1f}{med / medians['MoCo v2']:>12.1%}")
    if cpu:
        print(f"\nCPU seconds per step (process time, data loading excluded, best of {args.rounds}):")
        for name, seconds in cpu.items():
            print(f"{name:<24}{seconds:>10.3f} s{seconds / cpu['MoCo v2']:>12.1%} of MoCo v2")
    print(f"\nstudent step: {flops / 1e9:.2f} GFLOP ({flops / args.batch_size / 1e9:.3f} per image)")
    print(f"achieved {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.1%} of the measured {str(dtype)[6:]} "
          f"matmul rate ({peak / 1e9:.1f} GFLOP/s, {n}x{n})")
    cached_gap = rows["LEAD, cached teacher"] / moco - 1
    print(f"cached teacher vs MoCo v2: {cached_gap:+.1%} (target: within 5%); online teacher costs "
          f"{moco / rows['LEAD, online teacher']:.2f}x MoCo v2's time per image")
    if args.json:
        args.json.write_text(json.dumps({"images_per_second": rows, "rounds": rounds, "cpu_seconds_per_step": cpu,
                                         "student_step_flops": flops,
                                         "achieved_flops": achieved, "matmul_flops": peak,
                                         "device": str(device)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
