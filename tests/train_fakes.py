"""Tiny fakes for the training tests: a registered fake dataset, LLM files and a random CLIP.

``fake:blobs``: 16 px images, one colour and one stripe orientation per class plus noise, so a
classifier can learn something in a few steps. Items are PIL images, with ``classes``/``targets``.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from fgkd.data import register_dataset

CLASSES = ["Red Stripe", "Green Dot", "Blue Check", "Gold Bar"]
COLOURS = np.array([[200, 40, 40], [40, 180, 60], [50, 60, 210], [220, 190, 40]], dtype=np.float32)


class Blobs(Dataset):
    def __init__(self, split: str, transform=None, num_classes: int = 4, per_class: int = 8, size: int = 16,
                 seed: int = 0):
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        self.classes = CLASSES[:num_classes]
        self.targets = [c for c in range(num_classes) for _ in range(per_class)]
        yy, xx = np.mgrid[:size, :size]
        patterns = [(yy // 2) % 2, (xx // 2) % 2, ((yy + xx) // 2) % 2, (yy // 4) % 2]
        self.images = []
        for c in self.targets:
            base = COLOURS[c] * (0.6 + 0.4 * patterns[c][..., None])
            img = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
            self.images.append(img)
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        image = Image.fromarray(self.images[i])
        return (self.transform(image) if self.transform else image), self.targets[i]


def _blobs(root, split, transform=None, num_classes: int = 4, per_class: int = 8, size: int = 16, seed: int = 0):
    return Blobs(split, transform, num_classes, per_class, size, seed)


register_dataset("fake:blobs", _blobs, uses_root=False, overwrite=True, description="test blobs")


def write_llm_files(folder) -> dict:
    """``llm_options`` for the file backend: one description and 6 ranked questions for the classes."""
    desc = folder / "descriptions.json"
    desc.write_text(json.dumps({c: f"A {c.lower()} pattern with a coloured surface." for c in CLASSES}))
    questions = folder / "questions.json"
    questions.write_text(json.dumps([
        "Is the object red?", "Is the object green?", "Is the object blue?",
        "Is the object gold?", "Does the object have stripes?", "Does the object have dots?",
    ]))
    return {"descriptions": str(desc), "questions": str(questions)}


def tiny_teacher(seed: int = 0):
    """A random (untrained) open_clip model in fgkd's embedded-S shape, as a frozen ClipTeacher:
    64-d embeddings, 32 px input."""
    import open_clip

    from fgkd.teachers.clip import ClipTeacher, register_embedded_configs

    register_embedded_configs()
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms("embedded-S")
    tokenizer = open_clip.get_tokenizer("embedded-S")
    return ClipTeacher(model, tokenizer, preprocess, name="embedded-S", provenance={"weights": f"random-{seed}"})


def fake_scores(dataset, questions) -> np.ndarray:
    """Deterministic per-image P(yes) standing in for a scorer: question i's answer depends on the
    class and the image index."""
    targets = np.asarray(dataset.targets)
    n, q = len(targets), len(questions)
    base = ((targets[:, None] + np.arange(q)[None, :]) % 3 == 0).astype(np.float32)
    jitter = (np.arange(n)[:, None] % 5) / 20.0
    return np.clip(0.1 + 0.8 * base + jitter - 0.1, 0.0, 1.0).astype(np.float32)


def _tiny_cnn(pretrained: bool, small_input: bool):
    """A two-convolution backbone (32-d features): keeps engine tests at milliseconds per step."""
    from torch import nn

    module = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=1 if small_input else 2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    return module, 32


def _register_tiny_backbone():
    from fgkd.models.backbones import register_backbone

    register_backbone("test_tiny", _tiny_cnn, overwrite=True)


_register_tiny_backbone()


def lead_config(method: str = "lead", **overrides):
    """A LEAD-family config small enough for a unit test (tiny CNN, 16 px, 32 images, batch 8):
    LEAD's, or with ``method`` that of its MoCo v2 / SimCLR / iBOT baseline with the same fields."""
    from fgkd.methods import METHODS, LeadConfig, as_method

    base = dict(dataset="fake:blobs", image_size=16, backbone="test_tiny", pretrained=False, small_input=False,
                proj_dim=64, proj_hidden_dim=32, queue_size=32, batch_size=8, epochs=2, num_workers=0,
                progress=False, probe_epochs=5, teacher="embedded-S", llm_backend="file", device="cpu")
    if method == "lead":
        return LeadConfig(**{**base, **overrides})
    own = set(METHODS[method][0].field_names())
    return as_method(LeadConfig(**base), method, **{k: v for k, v in overrides.items() if k in own or k not in base})


def make_method(cfg, **dependencies):
    """The method of ``cfg`` for training on CPU, its dependencies built as the run store builds them."""
    import torch

    from fgkd.runs import build_method

    return build_method(cfg, torch.device("cpu"), for_training=True, **dependencies)


def makd_config(**overrides):
    """A MakdConfig small enough for a unit test."""
    from fgkd.methods import MakdConfig

    base = dict(dataset="fake:blobs", image_size=16, backbone="test_tiny", pretrained=False, batch_size=8, epochs=2,
                num_workers=0, progress=False, llm_backend="file", n_generate=6, n_select=6, num_aspects=4,
                scorer="oracle", alpha=1.0, device="cpu")
    base.update(overrides)
    return MakdConfig(**base)


class CountingScorer:
    """Deterministic P(yes) (``fake_scores``) that logs how many images each process scored:
    ``<log_dir>/rank<RANK>.txt`` gets one line per call (for the torchrun sharding test)."""

    name = "fake_counting"

    def __init__(self, log_dir: str):
        self.log_dir = log_dir

    @property
    def provenance(self) -> dict:
        return {"backend": "fake_counting"}

    def score(self, images, questions):
        import os
        from pathlib import Path

        base = images
        rows = list(range(len(images)))
        if hasattr(images, "indices"):  # a Subset: the rows of this process's share
            rows, base = list(images.indices), images.dataset
        with open(Path(self.log_dir) / f"rank{os.environ.get('RANK', '0')}.txt", "a") as fh:
            fh.write(f"{len(rows)} {rows[0] if rows else -1}\n")
        return fake_scores(base, questions)[rows]


def register_counting_scorer():
    """Add ``fake_counting`` to the scorer registry (the torchrun target does, not every test)."""
    import fgkd.scorers as scorers

    scorers._SCORERS["fake_counting"] = lambda **options: CountingScorer(**options)
