"""Embedded teachers: shipped configs, the training engine, resuming, caching and calibration."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import open_clip
import pytest
import torch

from fgkd.teachers import EMBEDDED_TEACHERS, embedded_config, get_teacher, load_embedded_teacher, train_embedded_teacher
from fgkd.teachers import embedded as embedded_module
from fgkd.teachers.clip import CONFIG_DIR, embedded_model_config, register_embedded_configs
from fgkd.teachers.embedded import count_parameters, teacher_folder
from fgkd.teachers.training import ClipTrainConfig, TrainingInterrupted, augment, lr_at


def test_embedded_model_config_is_the_config_open_clip_reads():
    register_embedded_configs()
    for name in EMBEDDED_TEACHERS:
        assert embedded_model_config(name) == open_clip.get_model_config(name)
    config = embedded_model_config("embedded-M")
    config["vision_cfg"]["width"] = -1  # a copy: callers cannot change the shipped config
    assert embedded_model_config("embedded-M")["vision_cfg"]["width"] > 0


def test_a_teacher_key_is_computed_without_importing_open_clip():
    # Every notebook kernel hashes run configs; importing open_clip there costs ~6 s per notebook.
    code = ("import sys; from fgkd.teachers.embedded import teacher_identity; "
            "key = teacher_identity('embedded-M'); print(len(key), 'open_clip' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["16", "False"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; several OpenMP threads thrash on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _colour_pool(n_per_colour=16, size=32, seed=0):
    """Images of one flat colour each (plus noise), captioned with the colour: a learnable toy pool."""
    rng = np.random.default_rng(seed)
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (220, 220, 30)}
    images, captions = [], []
    for name, rgb in colours.items():
        base = np.broadcast_to(np.array(rgb, dtype=np.int16), (n_per_colour, size, size, 3))
        noisy = base + rng.integers(-20, 21, base.shape)
        images.append(noisy.clip(0, 255).astype(np.uint8))
        captions += [f"a photo of a {name} square"] * n_per_colour
    return np.concatenate(images), captions, list(colours)


# -- configs -----------------------------------------------------------------------------------


def test_configs_ship_with_the_package_and_register_in_open_clip():
    shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    assert shipped == sorted(EMBEDDED_TEACHERS)
    assert set(register_embedded_configs()) <= set(open_clip.list_models())
    for name in EMBEDDED_TEACHERS:
        cfg = json.loads((CONFIG_DIR / f"{name}.json").read_text())
        assert open_clip.get_model_config(name) == cfg


def test_capacities_are_ordered_like_b32_b16_l14():
    vision = {n: open_clip.get_model_config(n)["vision_cfg"] for n in EMBEDDED_TEACHERS}
    # S -> M: same widths, smaller patches (B/32 -> B/16); M -> L: wider and deeper (B/16 -> L/14).
    assert vision["embedded-S"]["patch_size"] > vision["embedded-M"]["patch_size"]
    assert vision["embedded-S"]["width"] == vision["embedded-M"]["width"]
    assert vision["embedded-L"]["width"] > vision["embedded-M"]["width"]
    assert vision["embedded-L"]["layers"] > vision["embedded-M"]["layers"]
    counts = {n: count_parameters(n) for n in EMBEDDED_TEACHERS}
    assert counts["embedded-L"]["total"] > counts["embedded-M"]["total"]
    assert counts["embedded-L"]["visual"] > counts["embedded-M"]["visual"]


def test_embedded_config_overrides_and_validation():
    cfg = embedded_config("embedded-S", epochs=3, lr=1e-3, domains=("bird",), world_options={"pretrain_classes": 80})
    assert cfg.arch == "embedded-S" and cfg.train.epochs == 3 and cfg.train.lr == 1e-3
    assert cfg.domains == ("bird",) and cfg.world_options == (("pretrain_classes", 80),)
    assert cfg.key != embedded_config("embedded-S").key
    assert cfg.key == embedded_config("embedded-S", epochs=3, lr=1e-3, domains=("bird",), world_options={"pretrain_classes": 80}).key
    with pytest.raises(ValueError, match="unknown option"):
        embedded_config("embedded-S", epoch=3)
    with pytest.raises(ValueError, match="unknown embedded teacher"):
        embedded_config("embedded-XL")
    with pytest.raises(ValueError, match="domains"):
        embedded_config("embedded-S", domains=("fish",))
    with pytest.raises(ValueError, match="input stride"):
        embedded_config("embedded-S", image_size=36)
    with pytest.raises(ValueError, match="world_options"):
        embedded_config("embedded-S", world_options={"colour": "red"})
    with pytest.raises(ValueError, match="pretrain_classes"):
        embedded_config("embedded-S", world_options={"pretrain_classes": 1})
    with pytest.raises(ValueError, match="world_options must not set"):
        embedded_config("embedded-S", world_options={"seed": 3})
    with pytest.raises(ValueError, match="epochs"):
        embedded_config("embedded-S", epochs=0)
    with pytest.raises(ValueError, match="lr"):
        ClipTrainConfig(lr=-1.0)


# -- training engine ---------------------------------------------------------------------------


def test_lr_schedule_warms_up_then_decays_to_zero():
    cfg = ClipTrainConfig(lr=1.0, warmup_steps=4)
    lrs = [lr_at(s, 20, cfg) for s in range(20)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    assert lrs[-1] < 0.02


def test_augment_is_seeded_and_only_flips_and_shifts():
    x = torch.randn(6, 3, 8, 8)
    cfg = ClipTrainConfig(max_shift=2, flip=True)
    a = augment(x, cfg, torch.Generator().manual_seed(1))
    b = augment(x, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    assert torch.equal(augment(x, ClipTrainConfig(max_shift=0, flip=False), torch.Generator()), x)
    # A pure shift by (dy, dx) moves interior pixels: every output pixel is some input pixel.
    shifted = augment(x, ClipTrainConfig(max_shift=1, flip=False), torch.Generator().manual_seed(0))
    for i in range(6):
        matches = [torch.equal(shifted[i, :, 2:6, 2:6], x[i, :, 2 + dy : 6 + dy, 2 + dx : 6 + dx])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        assert any(matches)


def test_interrupted_training_resumes_to_the_same_weights():
    images, captions, _ = _colour_pool(n_per_colour=6)
    pool = (images, captions)
    common = dict(epochs=3, batch_size=8, warmup_steps=2)
    full = train_embedded_teacher(embedded_config("embedded-S", domains=("bird",), **common), pool=pool, progress=False)
    sliced_cfg = embedded_config("embedded-S", domains=("car",), **common)  # same recipe, another cache entry
    with pytest.raises(TrainingInterrupted, match="1 of 3 epochs"):
        train_embedded_teacher(sliced_cfg, pool=pool, progress=False, max_epochs_this_call=1)
    checkpoint = teacher_folder(sliced_cfg) / "checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    with pytest.raises(TrainingInterrupted, match="2 of 3 epochs"):
        train_embedded_teacher(sliced_cfg, pool=pool, progress=False, max_epochs_this_call=1)
    resumed = train_embedded_teacher(sliced_cfg, pool=pool, progress=False)
    a = torch.load(full, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["provenance"]["loss_history"] == b["provenance"]["loss_history"]
    assert not checkpoint.exists()  # the finished teacher replaces the training checkpoint
    assert json.loads((teacher_folder(sliced_cfg) / "provenance.json").read_text())["config_hash"] == sliced_cfg.key


def test_resume_refuses_a_checkpoint_of_another_recipe(tmp_path):
    from fgkd.teachers.training import train_clip

    images, captions, _ = _colour_pool(n_per_colour=2)
    model, tokenizer, _ = embedded_module.build_model(embedded_config("embedded-S"))
    tokens = tokenizer(captions)
    kw = dict(mean=(0.5,) * 3, std=(0.25,) * 3, progress=False)
    with pytest.raises(TrainingInterrupted):
        train_clip(model, torch.from_numpy(images), tokens, ClipTrainConfig(epochs=2, batch_size=4), tmp_path / "c.pt",
                   max_epochs_this_call=1, **kw)
    with pytest.raises(ValueError, match="another training config"):
        train_clip(model, torch.from_numpy(images), tokens, ClipTrainConfig(epochs=2, batch_size=4, lr=1e-4),
                   tmp_path / "c.pt", **kw)


def test_training_learns_a_learnable_pool_and_the_teacher_is_cached(monkeypatch):
    images, captions, colours = _colour_pool(n_per_colour=16)
    cfg = dict(epochs=6, batch_size=16, warmup_steps=4, lr=2e-3, domains=("bird",))
    weights = train_embedded_teacher(embedded_config("embedded-S", **cfg), pool=(images, captions), progress=False)
    assert weights.exists()

    # Loading does not train again: the weights come from the cache.
    def no_training(*args, **kwargs):
        raise AssertionError("the cached teacher was trained again")

    monkeypatch.setattr(embedded_module, "train_clip", no_training)
    teacher = get_teacher("embedded-S", progress=False, **cfg)
    assert teacher.provenance["kind"] == "embedded"
    assert teacher.provenance["config_hash"] == embedded_config("embedded-S", **cfg).key
    history = teacher.provenance["loss_history"]
    assert len(history) == 6 and history[-1] < history[0]
    labels = np.repeat(np.arange(4), 16)
    top1 = teacher.zero_shot_top1(images, labels, [f"a photo of a {c} square" for c in colours])
    assert top1 > 0.5  # chance is 0.25


# -- the real default teacher ------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_small_teacher(tmp_path_factory):
    """The default ``embedded-S``, trained once for this module in its own cache folder."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FGKD_CACHE_DIR", str(tmp_path_factory.mktemp("teacher_cache")))
        teacher = get_teacher("embedded-S", progress=False)
    torch.set_num_threads(threads)
    return teacher


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["bird", "car", "aircraft"])
def test_default_teacher_is_informative_imperfect_and_unsure_where_wrong(default_small_teacher, domain):
    from fgkd.teachers.calibration import CalibrationSpec, calibrate

    spec = CalibrationSpec()
    row = calibrate(default_small_teacher, domain, spec)
    # Unseen target classes: clearly above chance, clearly below perfect (full table for all
    # teachers, with the S < M < L order: scripts/calibrate_teachers.py).
    assert 3 * row["chance"] < row["top1"] < 0.9
    # LEAD's entropy weights assume the teacher is less sure where it is wrong.
    assert row["entropy_wrong"] > row["entropy_right"]
    assert default_small_teacher.provenance["config_hash"] == embedded_config("embedded-S").key


def test_training_cost_orders_the_teachers_and_scales_with_epochs_and_pool():
    cost = {name: embedded_module.training_cost(embedded_config(name, epochs=10)) for name in EMBEDDED_TEACHERS}
    assert cost["embedded-L"] > cost["embedded-M"] > cost["embedded-S"] > 0
    m = embedded_config("embedded-M", epochs=10)
    assert embedded_module.training_cost(embedded_config("embedded-M", epochs=5)) == pytest.approx(cost["embedded-M"] / 2)
    half_pool = embedded_config("embedded-M", epochs=10, world_options={"pretrain_per_class": 3})
    assert embedded_module.training_cost(half_pool) == pytest.approx(embedded_module.training_cost(m) / 2)


def test_building_an_embedded_teacher_does_not_warn_about_random_weights(caplog):
    import logging

    from fgkd.teachers.embedded import build_model

    with caplog.at_level(logging.WARNING):
        build_model(embedded_config("embedded-S"))  # random init: fgkd is about to train it, and says so
    assert "No pretrained weights loaded" not in caplog.text
    with caplog.at_level(logging.WARNING):  # other records still pass
        logging.getLogger().warning("something else")
    assert "something else" in caplog.text
