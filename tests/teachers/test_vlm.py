"""The VLM aspect scorer on a tiny random LLaVA loaded through the real transformers Auto classes."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from fgkd.scorers import cached_scores, cached_zero_shot_scores, get_scorer
from fgkd.teachers.vlm import (
    ModelNotAvailableError,
    VlmAspectScorer,
    VlmConfig,
    answer_token_ids,
    encode_shared_prefix,
    hf_cache_dir,
    render_prompt,
    yes_no_token_ids,
    zero_shot_accuracy,
)

sys.path.insert(0, str(Path(__file__).parent))  # tiny_vlm.py sits beside this file
from tiny_vlm import NUM_IMAGE_TOKENS, save_tiny_vlm  # noqa: E402

QUESTIONS = [
    "Is the bird red?",
    "Does the car have two doors?",
    "Is there a tree?",
    "Are the wings blue and the tail striped with yellow?",
    "yes?",
]
CLASSES = ["Red Cardinal", "Blue Jay", "Green Heron", "Yellow Warbler", "Pickup Truck", "Jet"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The tiny model's ops take microseconds: extra intra-op threads only add contention.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"))


@pytest.fixture(scope="module")
def scorer(model_dir):
    return get_scorer("vlm", model_id=str(model_dir), device="cpu", question_batch_size=2)


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    # Different sizes: the processor resizes, the scorer must not care.
    return [Image.fromarray(rng.integers(0, 256, (30 + 7 * i, 41, 3), dtype=np.uint8)) for i in range(n)]


def _vocab_ids(tokenizer, word: str) -> set[int]:
    """Independent resolution: every vocabulary token that decodes to the word, any case/space."""
    return {i for i in range(len(tokenizer)) if tokenizer.decode([i]).strip().lower() == word}


def test_loaded_through_auto_classes(scorer):
    assert type(scorer.model).__name__ == "LlavaForConditionalGeneration"
    assert type(scorer.processor).__name__ == "LlavaProcessor"
    assert scorer.provenance["model_class"] == "LlavaForConditionalGeneration"
    assert scorer.provenance["dtype"] == "float32"


def test_yes_no_ids_resolved_from_tokenizer_with_variants(scorer):
    tok = scorer.processor.tokenizer
    yes, no = yes_no_token_ids(tok)
    assert set(yes) == _vocab_ids(tok, "yes")
    assert set(no) == _vocab_ids(tok, "no")
    # the tiny byte-level BPE has "yes", "Yes", " yes", " Yes" as four distinct tokens
    assert sorted(tok.convert_ids_to_tokens(yes)) == sorted(["yes", "Yes", "Ġyes", "ĠYes"])
    assert sorted(tok.convert_ids_to_tokens(no)) == sorted(["no", "No", "Ġno", "ĠNo"])
    assert scorer.provenance["yes_token_ids"] == yes


def test_answer_ids_skip_a_leading_whitespace_token():
    # SentencePiece-like tokenisers may encode " yes" as ["▁", "yes"]; the lone space is dropped.
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, " ": 1, "yes": 2, "Yes": 3, "no": 4, "maybe": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(" "), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    assert fast.encode(" yes", add_special_tokens=False) == [1, 2]
    assert answer_token_ids(fast, "yes") == [2, 3]
    assert answer_token_ids(fast, "no") == [4]
    with pytest.raises(ValueError, match="no single token for 'nope'"):
        answer_token_ids(fast, "nope")


def test_q_equals_softmax_of_plain_forward_logits(scorer):
    images = _images(2)
    q = scorer.score(images, QUESTIONS)
    assert q.shape == (2, len(QUESTIONS)) and q.dtype == np.float64
    assert np.all((q > 0) & (q < 1))
    proc, model = scorer.processor, scorer.model
    tok = proc.tokenizer
    yes, no = sorted(_vocab_ids(tok, "yes")), sorted(_vocab_ids(tok, "no"))
    for n, image in enumerate(images):
        for i, question in enumerate(QUESTIONS):
            messages = [{"role": "user", "content": [
                {"type": "image"}, {"type": "text", "text": f"{question} Answer with yes or no."}]}]
            text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = proc(text=text, images=image, return_tensors="pt")
            with torch.no_grad():
                z = model(**inputs).logits[0, -1].double()
            pair = torch.stack([torch.logsumexp(z[yes], 0), torch.logsumexp(z[no], 0)])
            assert q[n, i] == pytest.approx(float(pair.softmax(0)[0]), abs=1e-5)


def test_the_authors_prompt_mode_sends_the_bare_question_and_reads_only_yes_and_no(model_dir):
    authors = get_scorer("vlm", model_id=str(model_dir), device="cpu", question_batch_size=2, prompt_mode="authors")
    proc, model = authors.processor, authors.model
    tok = proc.tokenizer
    assert tok.convert_ids_to_tokens(authors.yes_ids) == ["Yes"] and tok.convert_ids_to_tokens(authors.no_ids) == ["No"]
    assert authors.provenance["prompt_mode"] == "authors" and authors.provenance["prompt_template"] == "{question}"
    image = _images(1)[0]
    q = authors.score([image], QUESTIONS[:2])
    for i, question in enumerate(QUESTIONS[:2]):  # an independent forward: "<image>\n{question}" as the user turn
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        inputs = proc(text=proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
                      images=image, return_tensors="pt")
        with torch.no_grad():
            z = model(**inputs).logits[0, -1].double()
        yes, no = tok.convert_tokens_to_ids("Yes"), tok.convert_tokens_to_ids("No")
        assert q[0, i] == pytest.approx(float(torch.stack([z[yes], z[no]]).softmax(0)[0]), abs=1e-5)
    with pytest.raises(ValueError, match="prompt_mode"):
        VlmConfig(model_id="x", prompt_mode="chat")


def test_batched_equals_naive(scorer):
    images = _images(3, seed=1)
    batched = scorer.score(images, QUESTIONS, batched=True)
    naive = scorer.score(images, QUESTIONS, batched=False)
    # the random model must give visibly different answers, or the comparison proves nothing
    assert batched.std() > 0.02
    np.testing.assert_allclose(batched, naive, atol=2e-5, rtol=0)


def test_shared_prefix_holds_the_image_and_rebuilds_every_prompt(scorer):
    proc = scorer.processor
    image = _images(1)[0]
    texts = scorer.prompts(QUESTIONS)
    shared = encode_shared_prefix(proc, image, texts)
    prefix_ids = shared.prefix["input_ids"][0].tolist()
    assert prefix_ids.count(proc.image_token_id) == NUM_IMAGE_TOKENS
    assert shared.prefix["pixel_values"].shape[0] == 1
    for text, suffix in zip(texts, shared.suffixes, strict=True):
        assert len(suffix) >= 1
        full = proc(text=text, images=image, return_tensors="pt")["input_ids"][0].tolist()
        assert prefix_ids + suffix == full


def test_a_single_question_still_leaves_a_suffix(scorer):
    image = _images(1)
    one = scorer.score(image, QUESTIONS[:1])
    assert one[0, 0] == pytest.approx(scorer.score(image, QUESTIONS)[0, 0], abs=1e-5)


def test_dataset_input_and_string_or_object_questions(scorer):
    images = _images(2)

    class Tiny(torch.utils.data.Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return images[i], i

    objects = [SimpleNamespace(text=q) for q in QUESTIONS]
    np.testing.assert_allclose(scorer.score(Tiny(), objects), scorer.score(images, QUESTIONS), atol=1e-6)

    class Tensors(Tiny):
        def __getitem__(self, i):
            return torch.zeros(3, 8, 8), i

    with pytest.raises(TypeError, match="transform=None"):
        scorer.score(Tensors(), QUESTIONS)


def test_zero_shot_class_scores(scorer):
    images = _images(4, seed=2)
    scores = scorer.zero_shot_class_scores(images, CLASSES, noun="bird")
    assert scores.shape == (4, len(CLASSES))
    assert np.all(scores < 0)  # mean log-probabilities
    naive = scorer.zero_shot_class_scores(images, CLASSES, noun="bird", batched=False)
    np.testing.assert_allclose(scores, naive, atol=2e-5, rtol=0)
    assert scores.std() > 0.01

    # sum = mean * answer length, so the two reductions rank a class's images identically
    total = scorer.zero_shot_class_scores(images, CLASSES, noun="bird", reduction="sum")
    ratio = total / scores
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-5)
    assert np.all(ratio >= 1)

    predicted = scores.argmax(axis=1)
    assert zero_shot_accuracy(scores, predicted) == 100.0
    wrong = (predicted + 1) % len(CLASSES)
    assert zero_shot_accuracy(scores, wrong) == 0.0
    mixed = np.where(np.arange(4) < 2, predicted, wrong)
    assert zero_shot_accuracy(scores, mixed) == 50.0


def test_zero_shot_matches_an_independent_log_likelihood(scorer):
    proc, model = scorer.processor, scorer.model
    image = _images(1, seed=3)[0]
    prompt = scorer.class_prompt("bird")
    prompt_len = len(proc(text=prompt, images=image)["input_ids"][0])
    score = scorer.zero_shot_class_scores([image], CLASSES[:2], noun="bird", reduction="sum")
    for c, name in enumerate(CLASSES[:2]):
        inputs = proc(text=f"{prompt} {name}", images=image, return_tensors="pt")
        ids = inputs["input_ids"][0]
        with torch.no_grad():
            logp = model(**inputs).logits[0].double().log_softmax(-1)
        expected = sum(float(logp[t - 1, ids[t]]) for t in range(prompt_len, len(ids)))
        assert score[0, c] == pytest.approx(expected, abs=1e-4)


def test_vlm_scores_are_cached(scorer, monkeypatch):
    images = _images(2)
    first = cached_scores(scorer, images, QUESTIONS, dataset_id="tiny", split="test")
    zs = cached_zero_shot_scores(scorer, images, CLASSES, dataset_id="tiny", split="test", noun="bird")

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(scorer, "score", boom)
    monkeypatch.setattr(scorer, "zero_shot_class_scores", boom)
    np.testing.assert_array_equal(cached_scores(scorer, images, QUESTIONS, dataset_id="tiny", split="test"), first)
    again = cached_zero_shot_scores(scorer, images, CLASSES, dataset_id="tiny", split="test", noun="bird")
    np.testing.assert_array_equal(again, zs)
    with pytest.raises(AssertionError, match="recomputed"):  # another reduction is another key
        cached_zero_shot_scores(scorer, images, CLASSES, dataset_id="tiny", split="test", noun="bird", reduction="sum")


def test_missing_model_fails_offline_with_one_clear_message():
    model_id = "fgkd-test/no-such-vlm"
    with pytest.raises(ModelNotAvailableError) as info:
        get_scorer("vlm", model_id=model_id, device="cpu")
    message = str(info.value)
    assert f"hf download {model_id}" in message
    assert f"huggingface-cli download {model_id}" in message
    assert hf_cache_dir() in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_render_prompt_without_chat_template():
    processor = SimpleNamespace(chat_template=None, image_token="<img>")
    assert render_prompt(processor, "Is it red?") == "USER: <img>\nIs it red? ASSISTANT:"


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("dtype", "float8", "dtype"),
        ("prompt_template", "Answer yes or no.", "prompt_template"),
        ("class_prompt_template", "What is it?", "class_prompt_template"),
        ("question_batch_size", 0, "question_batch_size"),
        ("model_id", " ", "model_id"),
    ],
)
def test_config_validation(field, value, match):
    options = {"model_id": "some/model", field: value}
    with pytest.raises(ValueError, match=match):
        VlmConfig(**options)


def test_vlm_needs_a_model_id():
    with pytest.raises(ValueError, match="model_id"):
        get_scorer("vlm")


def test_scorer_class_is_what_get_scorer_builds(scorer):
    assert isinstance(scorer, VlmAspectScorer)
    assert scorer.name.startswith("vlm:")


def test_the_vlm_loads_once_per_process_and_loading_setting(model_dir, monkeypatch):
    import fgkd.teachers.vlm.loading as loading

    loading.clear_loaded_vlms()
    calls = []
    real = loading.load_vlm
    monkeypatch.setattr(loading, "load_vlm", lambda config: calls.append(config.model_id) or real(config))
    first = get_scorer("vlm", model_id=str(model_dir), device="cpu", question_batch_size=2)
    second = get_scorer("vlm", model_id=str(model_dir), device="cpu", question_batch_size=4)  # batching only
    assert len(calls) == 1 and second.model is first.model and second.processor is first.processor
    other = get_scorer("vlm", model_id=str(model_dir), device="cpu", dtype="float32")
    assert len(calls) == 2 and other.model is not first.model
    loading.clear_loaded_vlms()
    get_scorer("vlm", model_id=str(model_dir), device="cpu")
    assert len(calls) == 3


def test_vlm_settings_from_the_recipe_and_which_ones_key_a_run(model_dir, monkeypatch):
    from fgkd.experiments.makd import Recipe

    base = Recipe(scorer="vlm", scorer_model=str(model_dir))
    tuned = Recipe(scorer="vlm", scorer_model=str(model_dir), vlm_questions_per_batch=4, vlm_attention="eager",
                   vlm_device_map="auto")
    assert base.scorer_options() == {"model_id": str(model_dir)}  # defaults left out: stored keys stay
    assert tuned.scorer_options() == {"model_id": str(model_dir), "question_batch_size": 4,
                                      "attn_implementation": "eager", "device_map": "auto"}
    # how the scores are computed does not make another run; what they are does
    assert tuned.config("world:bird").config_hash() == base.config("world:bird").config_hash()
    assert Recipe(scorer="vlm", scorer_model=str(model_dir), vlm_quantization="4bit").config(
        "world:bird").config_hash() != base.config("world:bird").config_hash()
    assert Recipe(scorer="vlm", scorer_model=str(model_dir), vlm_dtype="float16").config(
        "world:bird").config_hash() != base.config("world:bird").config_hash()
    eager = get_scorer("vlm", model_id=str(model_dir), device="cpu", attn_implementation="eager")
    assert eager.model.config._attn_implementation == "eager"
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(ImportError, match="pip install bitsandbytes"):
            get_scorer("vlm", model_id=str(model_dir), device="cpu", quantization="8bit")
    with pytest.raises(ValueError, match="quantization='2bit'"):
        get_scorer("vlm", model_id=str(model_dir), device="cpu", quantization="2bit")


@pytest.fixture(scope="module")
def remote_dir(tmp_path_factory):
    from tiny_remote_vlm import save_tiny_remote_vlm

    return save_tiny_remote_vlm(tmp_path_factory.mktemp("remote") / "tiny-internvl2")


def test_a_remote_code_internvl_scores_only_when_its_code_is_trusted(remote_dir):
    from fgkd.teachers.vlm.remote import InternVLChatScorer, is_remote_internvl

    assert is_remote_internvl(str(remote_dir))
    with pytest.raises(ValueError, match="ships as remote code.*trust_remote_code: true.*InternVL3-8B-hf"):
        get_scorer("vlm", model_id=str(remote_dir), device="cpu")
    scorer = get_scorer("vlm", model_id=str(remote_dir), device="cpu", trust_remote_code=True, question_batch_size=2)
    assert isinstance(scorer, InternVLChatScorer) and scorer.num_image_token == 16
    images = [Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8)) for i in range(3)]
    questions = ["Is the bird red?", "Are the wings blue?", "Is there water?"]
    batched = scorer.score(images, questions, batched=True)
    naive = scorer.score(images, questions, batched=False)
    assert batched.shape == (3, 3) and ((batched > 0) & (batched < 1)).all()
    assert np.abs(batched - naive).max() < 1e-5  # the shared image prefix changes nothing
    assert batched.std() > 1e-4  # images and questions give different answers
    assert scorer.provenance["backend"] == "vlm-remote" and scorer.provenance["model_class"] == "TinyInternVLChatModel"
