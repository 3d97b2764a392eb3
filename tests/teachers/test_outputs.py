"""Cached teacher outputs: equal to fresh ones, keyed right, and recomputed when damaged."""

from __future__ import annotations

import json

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from fgkd.teachers import ClipTeacher, TeacherOutputs, compute_teacher_outputs, normalised_entropy, teacher_outputs
from fgkd.teachers import outputs as outputs_module
from fgkd.teachers.clip import register_embedded_configs


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; several OpenMP threads thrash on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TinyDataset(torch.utils.data.Dataset):
    """The fgkd dataset contract: (PIL image, int) items, ``classes`` and ``targets``."""

    def __init__(self, n=7, size=32, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        self.classes = ["Red Finch", "Blue Jay", "Grey Heron"]
        self.targets = [i % 3 for i in range(n)]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return Image.fromarray(self.images[i]), self.targets[i]


DESCRIPTIONS = ["a bird with red wings", "a bird with a blue head", "a tall grey bird with long legs"]


@pytest.fixture(scope="module")
def teacher():
    register_embedded_configs()
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("embedded-S", pretrained=None)
    return ClipTeacher(model, open_clip.get_tokenizer("embedded-S"), preprocess, name="embedded-S/test",
                       provenance={"weights": {"test": 1}}, batch_size=3)


def _cached(teacher, dataset, **kw):
    args = dict(dataset_id="tiny", split="train", text_config={"llm": "manual"})
    args.update(kw)
    return teacher_outputs(teacher, dataset, DESCRIPTIONS, **args)


def _files(tmp_cache):
    folder = tmp_cache / "teacher_outputs"
    return sorted(folder.glob("*.npz")), sorted(folder.glob("*.json"))


def _assert_equal(a: TeacherOutputs, b: TeacherOutputs):
    for name in ("image_emb", "probs", "entropy", "prototypes"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_outputs_have_the_lead_shapes_and_formulas(teacher):
    ds = TinyDataset()
    out = compute_teacher_outputs(teacher, ds, DESCRIPTIONS)
    assert out.image_emb.shape == (7, teacher.embed_dim) and out.probs.shape == (7, 3)
    assert out.entropy.shape == (7,) and out.prototypes.shape == (3, teacher.embed_dim)
    assert torch.allclose(out.probs.sum(1), torch.ones(7), atol=1e-5)
    assert torch.allclose(out.probs, teacher.probs(out.image_emb, out.prototypes))
    assert torch.allclose(out.entropy, normalised_entropy(out.probs))
    assert torch.allclose(out.image_emb, teacher.encode_images(ds.images), atol=1e-5)


def test_cached_outputs_equal_fresh_ones_and_are_reused(teacher, tmp_cache, monkeypatch):
    ds = TinyDataset()
    first = _cached(teacher, ds)
    fresh = compute_teacher_outputs(teacher, ds, DESCRIPTIONS)
    _assert_equal(first, fresh)
    npz, meta = _files(tmp_cache)
    assert len(npz) == 1 and len(meta) == 1
    record = json.loads(meta[0].read_text())
    assert record["provenance"]["dataset_id"] == "tiny" and record["provenance"]["split"] == "train"
    assert record["provenance"]["teacher_provenance"]["name"] == "embedded-S/test"
    assert record["provenance"]["temperature"] == 0.02

    monkeypatch.setattr(outputs_module, "compute_teacher_outputs", lambda *a, **k: pytest.fail("recomputed"))
    second = _cached(teacher, ds)
    _assert_equal(second, fresh)
    assert second.provenance["text_config"] == {"llm": "manual"}


def test_cache_key_covers_split_text_config_descriptions_and_temperature(teacher, tmp_cache):
    ds = TinyDataset()
    _cached(teacher, ds)
    _cached(teacher, ds, split="test")
    _cached(teacher, ds, text_config={"llm": "manual", "max_words": 10})
    _cached(teacher, ds, temperature=0.1)
    teacher_outputs(teacher, ds, ["x", "y", "z"], dataset_id="tiny", split="train", text_config={"llm": "manual"})
    npz, _ = _files(tmp_cache)
    assert len(npz) == 5


@pytest.mark.parametrize("damage", ["truncate", "garble", "delete_json"])
def test_damaged_cache_is_detected_and_recomputed(teacher, tmp_cache, damage):
    ds = TinyDataset()
    fresh = _cached(teacher, ds)
    (npz,), (meta,) = _files(tmp_cache)
    data = npz.read_bytes()
    if damage == "truncate":
        npz.write_bytes(data[: len(data) // 2])
    elif damage == "garble":
        mid = len(data) // 2
        npz.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :])
    else:
        meta.unlink()
    if damage == "delete_json":
        again = _cached(teacher, ds)  # no json: simply not cached
    else:
        with pytest.warns(UserWarning, match="unusable"):
            again = _cached(teacher, ds)
    _assert_equal(again, fresh)
    assert npz.read_bytes() != b"" and _cached(teacher, ds) is not None
    # Repaired: the next call loads without a warning.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_equal(_cached(teacher, ds), fresh)


def test_recompute_forces_a_fresh_computation(teacher, tmp_cache, monkeypatch):
    ds = TinyDataset()
    _cached(teacher, ds)
    calls = []
    real = outputs_module.compute_teacher_outputs

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(outputs_module, "compute_teacher_outputs", counting)
    _cached(teacher, ds)
    assert calls == []
    _cached(teacher, ds, recompute=True)
    assert calls == [1]


def test_bad_inputs_fail_early(teacher):
    ds = TinyDataset()
    with pytest.raises(ValueError, match="3 classes but 2 descriptions"):
        teacher_outputs(teacher, ds, DESCRIPTIONS[:2], dataset_id="tiny", split="train", text_config="x")
    with pytest.raises(ValueError, match="dataset_id"):
        teacher_outputs(teacher, ds, DESCRIPTIONS, dataset_id="", split="train", text_config="x")
