"""ClipTeacher, the pure teacher functions, the aspect scorer and loading pretrained weights.

Models are open_clip's ``embedded-S`` architecture with random weights: the real loading path,
no download, a few MB.
"""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from fgkd.llm.questions import AspectQuestion
from fgkd.teachers import (
    LEAD_TEMPERATURE,
    ClipAspectScorer,
    ClipTeacher,
    PretrainedWeightsMissing,
    calibration_stats,
    get_teacher,
    normalised_entropy,
    probs,
    resolve_checkpoint,
)
from fgkd.teachers.clip import hub_offline, register_embedded_configs


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; several OpenMP threads thrash on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def random_model():
    register_embedded_configs()
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("embedded-S", pretrained=None)
    return model, preprocess


@pytest.fixture
def teacher(random_model):
    model, preprocess = random_model
    return ClipTeacher(model, open_clip.get_tokenizer("embedded-S"), preprocess, name="embedded-S/random", provenance={})


def _images(n=5, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# -- pure functions ----------------------------------------------------------------------------


def test_probs_is_softmax_of_cosine_over_temperature():
    g = torch.Generator().manual_seed(0)
    f, P = torch.randn(4, 8, generator=g) * 3, torch.randn(6, 8, generator=g)
    p = probs(f, P, 0.5)
    cos = (f / f.norm(dim=1, keepdim=True)) @ (P / P.norm(dim=1, keepdim=True)).T
    expected = torch.exp(cos / 0.5) / torch.exp(cos / 0.5).sum(1, keepdim=True)
    assert p.shape == (4, 6)
    assert torch.allclose(p, expected, atol=1e-6)
    assert torch.allclose(probs(f, P), torch.softmax(cos / LEAD_TEMPERATURE, 1), atol=1e-6)
    assert LEAD_TEMPERATURE == 0.02


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_probs_rejects_non_positive_temperature(bad):
    with pytest.raises(ValueError, match="temperature"):
        probs(torch.randn(2, 3), torch.randn(4, 3), bad)


def test_probs_rejects_mismatched_dims():
    with pytest.raises(ValueError, match=r"\[C, d\]"):
        probs(torch.randn(2, 3), torch.randn(4, 5))


def test_normalised_entropy_bounds_and_formula():
    uniform = torch.full((1, 5), 0.2)
    onehot = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]])
    p = torch.tensor([[0.7, 0.2, 0.1]])
    assert normalised_entropy(uniform).item() == pytest.approx(1.0, abs=1e-6)
    assert normalised_entropy(onehot).item() == pytest.approx(0.0, abs=1e-7)
    expected = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)) / math.log(3)
    assert normalised_entropy(p).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="C >= 2"):
        normalised_entropy(torch.ones(3, 1))


def test_calibration_stats_splits_entropy_by_correctness():
    p = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.6, 0.4]])
    labels = [0, 1, 1, 1]  # right, wrong (tie -> 0), right, wrong
    stats = calibration_stats(p, labels)
    h = normalised_entropy(p)
    assert stats["top1"] == pytest.approx(0.5)
    assert stats["entropy_right"] == pytest.approx(((h[0] + h[2]) / 2).item())
    assert stats["entropy_wrong"] == pytest.approx(((h[1] + h[3]) / 2).item())
    with pytest.raises(ValueError, match="labels"):
        calibration_stats(p, [0, 1])


# -- ClipTeacher ------------------------------------------------------------------------------


def test_teacher_is_frozen_and_in_eval_mode(teacher):
    assert not teacher.model.training
    assert all(not p.requires_grad for p in teacher.model.parameters())
    cfg = open_clip.get_model_config("embedded-S")
    assert teacher.embed_dim == cfg["embed_dim"] and teacher.image_size == cfg["vision_cfg"]["image_size"]
    assert teacher.context_length == cfg["text_cfg"]["context_length"]
    assert teacher.provenance["name"] == "embedded-S/random"


def test_encode_images_accepts_every_image_form_and_normalises(teacher):
    raw = _images(3)
    from_uint8 = teacher.encode_images(raw)
    assert from_uint8.shape == (3, teacher.embed_dim)
    assert torch.allclose(from_uint8.norm(dim=1), torch.ones(3), atol=1e-5)
    assert not from_uint8.requires_grad
    pil = [Image.fromarray(a) for a in raw]
    preprocessed = torch.stack([teacher.preprocess(im) for im in pil])
    assert torch.allclose(teacher.encode_images(pil), from_uint8, atol=1e-5)
    assert torch.allclose(teacher.encode_images(torch.from_numpy(raw)), from_uint8, atol=1e-5)
    assert torch.allclose(teacher.encode_images(preprocessed), from_uint8, atol=1e-5)
    assert torch.allclose(teacher.encode_images(pil[0]), from_uint8[:1], atol=1e-5)
    # Batching does not change the result.
    assert torch.allclose(teacher.encode_images(raw, batch_size=1), from_uint8, atol=1e-5)


class _Pairs(torch.utils.data.Dataset):
    """fgkd's dataset contract: (PIL image, int) items."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return Image.fromarray(self.images[i]), i % 2


def test_encode_images_reads_a_dataset_of_image_target_pairs(teacher):
    raw = _images(5)
    assert torch.allclose(teacher.encode_images(_Pairs(raw), batch_size=2), teacher.encode_images(raw), atol=1e-5)


def test_encode_images_resizes_raw_images_of_another_size(teacher):
    assert teacher.encode_images(_images(2, size=64)).shape == (2, teacher.embed_dim)


def test_encode_images_rejects_wrong_inputs(teacher):
    with pytest.raises(ValueError, match="expects"):
        teacher.encode_images(torch.zeros(2, 3, 48, 48))
    with pytest.raises(ValueError, match="uint8"):
        teacher.encode_images(np.zeros((2, 32, 32, 3), dtype=np.float64))
    with pytest.raises(ValueError, match="cannot use"):
        teacher.encode_images("image.png")


def test_encode_texts_and_prototypes(teacher):
    texts = ["a photo of a bird with red wings", "a photo of a car with a blue body"]
    emb = teacher.encode_texts(texts)
    assert emb.shape == (2, teacher.embed_dim)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(teacher.prototypes(texts), emb)
    assert not torch.allclose(emb[0], emb[1])
    with pytest.raises(ValueError, match="single string"):
        teacher.encode_texts("a bird")


def test_encode_texts_counts_cut_texts_without_a_warning(teacher, caplog):
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cut text is the protocol, not a fault: no stderr box in a notebook
        with caplog.at_level(logging.INFO, logger="fgkd.teachers.clip"):
            teacher.encode_texts(["word " * 100, "a bird"])
    assert teacher.truncated_texts == 1
    assert f"context of {teacher.context_length} tokens" in caplog.text


def test_teacher_probs_entropy_and_zero_shot(teacher):
    images, labels = _images(6), [0, 1, 2, 0, 1, 2]
    descriptions = ["a red bird", "a blue car", "a grey aircraft"]
    f, P = teacher.encode_images(images), teacher.prototypes(descriptions)
    p = teacher.probs(f, P)
    assert torch.allclose(p, probs(f, P, 0.02))
    assert torch.allclose(teacher.probs(f, P, temperature=1.0), probs(f, P, 1.0))
    assert torch.allclose(teacher.normalised_entropy(p), normalised_entropy(p))
    expected = (p.argmax(1) == torch.tensor(labels)).float().mean().item()
    assert teacher.zero_shot_top1(images, labels, descriptions) == pytest.approx(expected)


# -- aspect scorer ------------------------------------------------------------------------------


def test_aspect_scorer_is_softmax_over_affirmative_and_negative(teacher):
    questions = [
        AspectQuestion("Does the bird have red wings?", "a photo of a bird with red wings", "a photo of a bird without red wings"),
        AspectQuestion("Is the bird in a forest?", "a photo of a bird in a forest", "a photo of a bird not in a forest"),
    ]
    scorer = ClipAspectScorer(teacher=teacher)
    images = _images(4)
    q = scorer.score(images, questions)
    assert q.shape == (4, 2) and q.dtype == torch.float32
    assert ((q > 0) & (q < 1)).all()
    f = teacher.encode_images(images)
    yes = teacher.encode_texts([questions[1].affirmative])[0]
    no = teacher.encode_texts([questions[1].negative])[0]
    s = teacher.logit_scale
    expected = torch.sigmoid(s * (f @ yes - f @ no))  # 2-way softmax = sigmoid of the difference
    assert torch.allclose(q[:, 1], expected, atol=1e-5)
    assert torch.allclose(scorer.score(_Pairs(images), questions, batch_size=3), q, atol=1e-6)
    assert scorer.provenance["scorer"] == "clip" and scorer.provenance["teacher"] == "embedded-S/random"
    assert scorer.provenance["teacher_key"] == teacher.key


def test_aspect_scorer_uses_closed_choices_when_a_question_has_contrasts(teacher):
    colours = ("a photo of a bird with red wings.", "a photo of a bird with blue wings.",
               "a photo of a bird with green wings.")
    scenes = ("a photo of a bird in a forest.", "a photo of a bird in a desert.")
    questions = [
        AspectQuestion("Red or green wings?", contrasts=((colours, (0, 2)),)),
        AspectQuestion("Blue wings in a desert?", contrasts=((colours, (1,)), (scenes, (1,)))),
        AspectQuestion("Is the bird in a forest?", "a photo of a bird in a forest", "a photo of a bird not in a forest"),
    ]
    images = _images(5)
    q = ClipAspectScorer(teacher=teacher).score(images, questions)
    assert q.shape == (5, 3)
    f, s = teacher.encode_images(images), teacher.logit_scale
    p_colour = (s * f @ teacher.encode_texts(list(colours)).T).softmax(-1)
    p_scene = (s * f @ teacher.encode_texts(list(scenes)).T).softmax(-1)
    assert torch.allclose(q[:, 0], p_colour[:, 0] + p_colour[:, 2], atol=1e-5)
    assert torch.allclose(q[:, 1], p_colour[:, 1] * p_scene[:, 1], atol=1e-5)  # a conjunction: the product
    yes, no = teacher.encode_texts([questions[2].affirmative, questions[2].negative])
    assert torch.allclose(q[:, 2], torch.sigmoid(s * (f @ yes - f @ no)), atol=1e-5)  # no contrasts: the pair
    assert ClipAspectScorer(teacher=teacher).provenance["version"] == 2


def test_aspect_scorer_rejects_questions_without_statements(teacher):
    with pytest.raises(ValueError, match="affirmative and a negative"):
        ClipAspectScorer(teacher=teacher).score(_images(1), [AspectQuestion("Is it nice?")])
    with pytest.raises(ValueError, match="only apply when teacher is a name"):
        ClipAspectScorer(teacher=teacher, epochs=3)


def test_get_scorer_clip_builds_the_clip_scorer(teacher):
    from fgkd.scorers import get_scorer

    scorer = get_scorer("clip", teacher=teacher)
    assert isinstance(scorer, ClipAspectScorer) and scorer.teacher is teacher


# -- pretrained teachers -----------------------------------------------------------------------


def test_pretrained_path_loads_through_open_clip(random_model, tmp_path, no_network):
    model, _ = random_model
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    loaded = get_teacher("embedded-S/mine", pretrained_path=path)
    images, texts = _images(3), ["a red bird", "a blue car"]
    with torch.no_grad():
        ref_img = model.eval().encode_image(torch.stack([loaded.preprocess(Image.fromarray(a)) for a in images]), normalize=True)
        ref_txt = model.encode_text(open_clip.get_tokenizer("embedded-S")(texts), normalize=True)
    assert torch.allclose(loaded.encode_images(images), ref_img, atol=1e-5)
    assert torch.allclose(loaded.encode_texts(texts), ref_txt, atol=1e-5)
    assert loaded.provenance["kind"] == "pretrained" and loaded.provenance["checkpoint"] == str(path)
    assert loaded.name == "embedded-S/mine"


def test_uncached_pretrained_teacher_fails_with_one_clear_message(tmp_path, no_network):
    with pytest.raises(PretrainedWeightsMissing) as err:
        get_teacher("ViT-B-32/openai", cache_dir=tmp_path)
    message = str(err.value)
    assert "timm/vit_base_patch32_clip_224.openai" in message  # the hf-hub id to download
    assert "pretrained_path=" in message and "never downloads" in message
    assert str(tmp_path) in message  # where it looked / where to put it


def test_resolve_checkpoint_finds_hugging_face_and_url_caches(tmp_path, no_network):
    # A Hugging Face cache entry as huggingface_hub lays it out: refs/main -> snapshots/<rev>/file.
    repo = tmp_path / "hub" / "models--timm--vit_base_patch16_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_pytorch_model.bin").write_bytes(b"weights")
    found = resolve_checkpoint("ViT-B-16", "openai", cache_dir=tmp_path / "hub")
    assert found == snapshot / "open_clip_pytorch_model.bin"
    # open_clip's URL cache: <cache_dir>/<file name of the URL>.
    url_dir = tmp_path / "clip"
    url_dir.mkdir()
    (url_dir / "ViT-L-14.pt").write_bytes(b"weights")
    assert resolve_checkpoint("ViT-L-14", "openai", cache_dir=url_dir) == url_dir / "ViT-L-14.pt"


def test_pretrained_name_errors():
    with pytest.raises(ValueError, match="ARCH/TAG"):
        get_teacher("ViT-B-16/openai/extra")
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        get_teacher("ViT-Q-99/openai")
    with pytest.raises(ValueError, match="known tags"):
        get_teacher("ViT-B-16/not-a-tag")
    with pytest.raises(ValueError, match="unknown teacher"):
        get_teacher("clip")
    with pytest.raises(FileNotFoundError, match="not a file"):
        get_teacher("ViT-B-16/openai", pretrained_path="/nonexistent/weights.pt")


def test_tokenizer_works_offline(no_network):
    with hub_offline():
        tok = open_clip.get_tokenizer("embedded-M")
        tokens = tok(["a photo of a bird with red wings"])
    assert isinstance(tok, open_clip.SimpleTokenizer)
    assert tokens.shape == (1, open_clip.get_model_config("embedded-M")["text_cfg"]["context_length"])
    assert tokens[0, 0] == tok.sot_token_id


def test_hub_offline_restores_the_environment(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = constants.HF_HUB_OFFLINE
    with hub_offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and constants.HF_HUB_OFFLINE == before


def test_calibration_temperature_changes_entropy_not_top1(teacher):
    from fgkd.teachers.calibration import CalibrationSpec, calibrate

    spec = CalibrationSpec(num_classes=4, image_size=32, max_words=12)
    sharp = calibrate(teacher, "car", spec)
    soft = calibrate(teacher, "car", CalibrationSpec(num_classes=4, image_size=32, max_words=12, temperature=1.0))
    assert sharp["temperature"] == 0.02 and soft["temperature"] == 1.0
    assert soft["top1"] == sharp["top1"]
    mean_h = lambda r: r["entropy_right"] * r["top1"] + r["entropy_wrong"] * (1 - r["top1"])  # noqa: E731
    assert mean_h(soft) > mean_h(sharp)
    with pytest.raises(ValueError, match="temperature"):
        CalibrationSpec(temperature=0)


def test_an_unknown_architecture_is_named_as_such():
    from fgkd.teachers.pretrained import resolve_checkpoint

    with pytest.raises(ValueError, match="unknown CLIP architecture 'ViT-Q-99'.*known architectures: .*ViT-B-16"):
        resolve_checkpoint("ViT-Q-99", "nothing")
    with pytest.raises(ValueError, match="no pretrained tag 'nothing' for ViT-B-16"):
        resolve_checkpoint("ViT-B-16", "nothing")


def _torchscript_archive_of(model: torch.nn.Module, path) -> None:
    """Save ``model``'s weights as a TorchScript archive the way OpenAI ships CLIP (``torch.jit.save``),
    offline: a scripted module tree holding the same parameters and buffers under the same names."""
    class Holder(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Holder()
    for name, tensor in model.state_dict().items():
        *parents, leaf = name.split(".")
        node = root
        for part in parents:
            if not hasattr(node, part):
                node.add_module(part, Holder())
            node = getattr(node, part)
        node.register_buffer(leaf, tensor.detach().clone())
    torch.jit.save(torch.jit.script(root), str(path))


def test_an_openai_torchscript_archive_loads_as_openai_distributes_it(tmp_path, no_network):
    from open_clip.factory import _MODEL_CONFIGS

    from fgkd.teachers.pretrained import is_torchscript_archive

    _MODEL_CONFIGS["fgkd-tiny-openai"] = {  # OpenAI's layout (QuickGELU, 77 tokens, 49408 BPE ids), tiny widths
        "embed_dim": 32, "quick_gelu": True,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}}
    torch.manual_seed(0)
    reference = open_clip.create_model("fgkd-tiny-openai").eval()
    with torch.no_grad():  # OpenAI's archives hold fp16 weights
        for p in reference.parameters():
            p.copy_(p.half().float())
    archive = tmp_path / "clip" / "fgkd-tiny.pt"
    archive.parent.mkdir()
    _torchscript_archive_of(reference, archive)
    assert is_torchscript_archive(archive)
    with pytest.raises(RuntimeError, match="TorchScript"):  # what open_clip's own loader says
        open_clip.create_model_and_transforms("fgkd-tiny-openai", pretrained=str(archive))
    loaded = get_teacher("fgkd-tiny-openai/openai", pretrained_path=archive)
    images, texts = _images(3), ["a red bird", "a blue car"]
    with torch.no_grad():
        ref_img = reference.encode_image(torch.stack([loaded.preprocess(Image.fromarray(a)) for a in images]),
                                         normalize=True)
        ref_txt = reference.encode_text(open_clip.get_tokenizer("fgkd-tiny-openai")(texts), normalize=True)
    assert torch.allclose(loaded.encode_images(images), ref_img, atol=1e-5)
    assert torch.allclose(loaded.encode_texts(texts), ref_txt, atol=1e-5)
    assert loaded.provenance["quick_gelu"] is True
    plain = tmp_path / "state_dict.pt"
    torch.save(reference.state_dict(), plain)
    assert not is_torchscript_archive(plain)
    with pytest.raises(ValueError, match="another architecture than ViT-B-16: embed_dim 32 \\(not 512\\)"):
        get_teacher("ViT-B-16/openai", pretrained_path=archive)
