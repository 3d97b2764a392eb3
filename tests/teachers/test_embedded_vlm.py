"""The embedded MLLM: a LLaVA trained on a tiny world pool, saved, resumed, checked, and scored
through the same VlmAspectScorer that scores InternVL at the paper scale."""

import json

import numpy as np
import pytest
import torch

from fgkd.io import DamagedFileError
from fgkd.teachers.training import TrainingInterrupted
from fgkd.teachers import embedded_vlm as embedded, llava
from fgkd.teachers.embedded_vlm import (
    EmbeddedVlmConfig,
    answer_probabilities,
    embedded_vlm_config,
    embedded_vlm_folder,
    is_embedded_vlm,
    list_embedded_vlms,
    mean_auc,
    training_progress,
)


# The vision tower starts from a tiny embedded CLIP trained on the same tiny pool for one epoch.
TINY_CLIP = {"epochs": 1, "batch_size": 16, "domains": ("bird",),
             "world_options": {"pretrain_classes": 32, "pretrain_per_class": 2}}


def tiny(**changes):
    return EmbeddedVlmConfig(**{"domains": ("bird",), "pool_classes": 32, "pool_per_class": 2, "epochs": 2,
                                "batch_images": 8, "questions_per_image": 4, "warmup_steps": 2,
                                "vision_options": TINY_CLIP, **changes})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training in a cache of its own, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("vlm_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FGKD_CACHE_DIR", str(root))
        config = tiny()
        path = embedded_vlm_folder(config, progress=False)
        record = json.loads((path.parent / "provenance.json").read_text())
    return root, config, path, record


def test_names_and_config_errors():
    assert list_embedded_vlms() == ["embedded-vlm-S", "embedded-vlm-L"]
    assert is_embedded_vlm("embedded-vlm-L") and not is_embedded_vlm("embedded-M")
    assert not is_embedded_vlm("llava-hf/llava-1.5-7b-hf")
    assert embedded_vlm_config("embedded-vlm-L").size == "L"
    with pytest.raises(ValueError, match="not an embedded MLLM"):
        embedded_vlm_config("embedded-vlm-XL")
    with pytest.raises(ValueError, match="size"):
        EmbeddedVlmConfig(size="M")
    with pytest.raises(ValueError, match="domains"):
        EmbeddedVlmConfig(domains=("bird", "bird"))
    with pytest.raises(ValueError, match="questions_per_image"):
        EmbeddedVlmConfig(questions_per_image=1)
    assert tiny().key != tiny(seed=1).key  # every field keys the cache


def test_the_vocabulary_names_no_class():
    from fgkd.data.world import World

    config = tiny()
    words = set(embedded.vocabulary(config))
    assert {"yes", "no", "wings", "red", "forest", "<image>"} <= words
    world = World(config.world_configs()[0])
    for cls in (*world.classes, *world.pretrain_classes):
        # every class name has a word the tokenizer does not know (its genus), so the MLLM cannot
        # name a class, as the paper's MLLM is poor at fine-grained names
        assert not set(embedded._pre_tokenize(cls.name)) <= words, cls.name


def test_questions_per_image_are_half_yes_and_answered_from_the_image():
    config = tiny(questions_per_image=6)
    data = embedded.pool_data(config)
    rng = np.random.default_rng(0)
    for n in range(5):
        pairs = embedded._sample_questions(data, n, config, rng)
        assert [a for _, a in pairs] == [1.0] * 3 + [0.0] * 3
        texts = [q.text for q in data.questions[0]]
        for text, answer in pairs:
            assert data.answers[0][data.row[n], texts.index(text)] == answer


def test_paired_questions_contrast_the_same_attributes():
    config = tiny(questions_per_image=6, pair_questions=True)
    assert config.key != tiny(questions_per_image=6).key
    data = embedded.pool_data(config)
    rng = np.random.default_rng(0)
    texts = [q.text for q in data.questions[0]]
    for n in range(5):
        pairs = embedded._sample_questions(data, n, config, rng)
        assert [a for _, a in pairs] == [1.0, 0.0] * 3
        for (yes, _), (no, _) in zip(pairs[::2], pairs[1::2]):
            i, j = texts.index(yes), texts.index(no)
            assert data.topic[0][i] == data.topic[0][j]  # "red wings?" then "blue wings?"
            assert data.answers[0][data.row[n], i] == 1 and data.answers[0][data.row[n], j] == 0


def test_training_learns_and_records_its_provenance(trained):
    _, config, path, record = trained
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert record["name"] == "embedded-vlm-S" and record["config_hash"] == config.key
    assert len(record["qa_loss_history"]) == 2 and len(record["holdout_auc_history"]) == 2
    assert record["qa_loss_history"][-1] < record["qa_loss_history"][0]
    assert record["determinism"]["threads"] == 1
    assert set(record["files"]) >= {"config.json", "model.safetensors", "tokenizer.json"}


def test_the_scorer_reads_it_like_any_transformers_vlm(trained, monkeypatch):
    """The vlm scorer (shared prefix and the one-forward-per-question reference) gives the training's
    own P(yes); loaded by name, it is the cached folder."""
    from fgkd.data.world import World
    from fgkd.llm.template import TemplateLLM
    from fgkd.scorers import get_scorer
    from fgkd.teachers.vlm.loading import clear_loaded_vlms

    root, config, path, _ = trained
    monkeypatch.setenv("FGKD_CACHE_DIR", str(root))
    world = World(config.world_configs()[0])
    test = world.split("test")
    images = np.asarray(test.images[:3])
    questions = TemplateLLM(world).aspect_questions(world.class_names, n_generate=20, n_select=5)
    texts = [q.text for q in questions]
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    own = answer_probabilities(model, processor, images, texts)
    assert own.std(axis=0).max() > 1e-4  # the answers depend on the image: the comparison below means something
    from PIL import Image

    pil = [Image.fromarray(a) for a in images]
    monkeypatch.setattr(embedded, "embedded_vlm_config", lambda name, **kw: config)
    clear_loaded_vlms()
    scorer = get_scorer("vlm", model_id="embedded-vlm-S")
    assert scorer.provenance["embedded_vlm_key"] == config.key and scorer.provenance["model_id"] == "embedded-vlm-S"
    np.testing.assert_allclose(scorer.score(pil, texts), own, atol=1e-4)
    np.testing.assert_allclose(scorer.score(pil, texts, batched=False), own, atol=1e-4)
    zero_shot = scorer.zero_shot_class_scores(pil, world.class_names[:4], noun="bird")
    assert zero_shot.shape == (3, 4) and np.isfinite(zero_shot).all()
    clear_loaded_vlms()


def test_an_interrupted_training_resumes_to_the_same_weights(trained, tmp_path, monkeypatch):
    _, config, path, _ = trained
    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path))
    with pytest.raises(TrainingInterrupted):
        embedded_vlm_folder(config, progress=False, max_epochs_this_call=1)
    assert training_progress(config) == (1, 2)
    resumed = embedded_vlm_folder(config, progress=False)
    assert (resumed / "model.safetensors").read_bytes() == (path / "model.safetensors").read_bytes()


def test_a_damaged_model_file_is_named_with_its_fix(trained, tmp_path, monkeypatch):
    import shutil

    root, config, path, _ = trained
    copy = tmp_path / "cache"
    shutil.copytree(root, copy)
    monkeypatch.setenv("FGKD_CACHE_DIR", str(copy))
    target = embedded.model_folder(config) / "model.safetensors"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="delete the folder"):
        embedded_vlm_folder(config)


def test_the_vision_tower_is_the_clip_image_encoder():
    """open_clip's ViT and transformers' CLIPVisionModel with the mapped weights compute the same
    image embedding, so the LLaVA starts from exactly the embedded CLIP's encoder."""
    from transformers import CLIPVisionModel

    from fgkd.teachers.embedded import build_model as build_clip
    from fgkd.teachers.embedded import embedded_config

    visual = build_clip(embedded_config("embedded-M"))[0].visual.eval()
    hf = CLIPVisionModel(llava.clip_vision_config(visual)).eval()
    hf.load_state_dict(llava.clip_vision_state_dict(visual))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        ours = hf(pixel_values=x).pooler_output @ visual.proj
        theirs = visual(x)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    config = llava.clip_vision_config(visual)
    assert (config.hidden_size, config.num_hidden_layers, config.patch_size) == (96, 4, 4)


def test_mean_auc_skips_constant_questions():
    truth = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]], dtype=float)
    p = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.5], [0.8, 0.2, 0.5], [0.1, 0.9, 0.5]])
    assert mean_auc(p, truth) == 1.0
    assert mean_auc(1 - p, truth) == 0.0


def test_reproduce_trains_the_embedded_mllm_a_notebook_scores_with(monkeypatch):
    from fgkd.experiments.makd import embedded_teachers

    params = {"scorer": "vlm", "scorer_model": "embedded-vlm-S", "alt_scorer": "vlm",
              "alt_scorer_model": "embedded-vlm-L"}
    assert embedded_teachers(params) == [("embedded-vlm-S", {}), ("embedded-vlm-L", {})]
    params = {"scorer": "vlm", "scorer_model": "llava-hf/llava-1.5-7b-hf", "alt_scorer": "clip",
              "alt_scorer_model": "embedded-L"}
    assert embedded_teachers(params) == [("embedded-L", {})]
    torch.manual_seed(0)  # nothing trained: only the names


def test_fgkd_reproduce_orders_and_watches_the_embedded_mllm():
    """The teacher phase knows the embedded MLLM: its config, whether it is trained, its cost (it
    sorts the jobs) and its progress, without training anything."""
    from fgkd.reproduce.teachers import TeacherWatcher, _kind

    kind = _kind("embedded-vlm-L")
    config = kind.config("embedded-vlm-L", {})
    assert config.size == "L" and not kind.trained(config) and kind.progress(config) is None
    assert kind.cost(config) > kind.cost(_kind("embedded-vlm-S").config("embedded-vlm-S", {})) > 0
    watcher = TeacherWatcher([("embedded-vlm-S", {}, None)], bar=None, every=3600)
    try:
        assert watcher.status() == "training teachers: embedded-vlm-S starting"
    finally:
        watcher.stop()

