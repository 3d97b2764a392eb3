"""The openai backend against a local fake endpoint: real openai client, real HTTP."""

from __future__ import annotations

import pytest

from fgkd.llm import LLMError, LLMReplyError, MissingAPIKeyError, get_llm
from fgkd.llm.openai_backend import OpenAIChatLLM, OpenAIConfig
from fgkd.llm.prompts import MAKD_SYSTEM
from fgkd.paths import cache_dir

KEY = "sk-test-SECRET-0123456789abcdef"
CLASSES = ["Pelagic Cormorant", "Least Flycatcher", "White Pelican"]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


def make_llm(server, **options) -> OpenAIChatLLM:
    options = {"base_url": server.base_url, "model": "fake-gpt", "backoff_base": 0.001, **options}
    return get_llm("openai", **options)


def test_describe_sends_one_request_per_class_and_cuts_to_max_words(fake_openai, key):
    llm = make_llm(fake_openai)
    out = llm.describe(CLASSES, max_words=20)
    assert list(out) == CLASSES
    assert len(fake_openai.hits) == len(CLASSES)
    for name, hit in zip(CLASSES, fake_openai.hits):
        assert hit["path"] == "/v1/chat/completions"
        assert hit["authorization"] == f"Bearer {KEY}"
        assert hit["body"]["model"] == "fake-gpt"
        assert f"visual features of a {name}" in hit["body"]["messages"][-1]["content"]
        assert "at most 20 words" in hit["body"]["messages"][-1]["content"]
    for name, text in out.items():
        assert len(text.split()) == 20  # the fake replies with ~130 words
        assert text.startswith(f"The {name} is a bird")  # surrounding quotes removed


def test_retries_once_after_429(fake_openai, key, monkeypatch):
    sleeps = []
    monkeypatch.setattr("fgkd.llm.openai_backend.time.sleep", sleeps.append)
    fake_openai.fail_next = [429]
    llm = make_llm(fake_openai, backoff_base=0.25)
    out = llm.describe(["Least Flycatcher"], max_words=10)
    assert len(fake_openai.hits) == 2
    assert sleeps == [0.25]
    assert out["Least Flycatcher"].startswith("The Least Flycatcher")


def test_backoff_doubles_on_5xx_and_gives_up_after_max_retries(fake_openai, key, monkeypatch):
    sleeps = []
    monkeypatch.setattr("fgkd.llm.openai_backend.time.sleep", sleeps.append)
    fake_openai.fail_next = [500, 503, 502, 500]
    llm = make_llm(fake_openai, backoff_base=0.5, backoff_max=1.5, max_retries=3)
    with pytest.raises(LLMError, match="after 4 attempt"):
        llm.describe(["White Pelican"])
    assert len(fake_openai.hits) == 4
    assert sleeps == [0.5, 1.0, 1.5]


def test_client_errors_are_not_retried(fake_openai, key):
    fake_openai.fail_next = [400]
    with pytest.raises(LLMError, match="HTTP 400"):
        make_llm(fake_openai).describe(["White Pelican"])
    assert len(fake_openai.hits) == 1


def test_second_call_is_served_from_cache_without_key(fake_openai, key, monkeypatch):
    first = make_llm(fake_openai).describe(CLASSES, max_words=30)
    hits = len(fake_openai.hits)
    monkeypatch.delenv("OPENAI_API_KEY")
    again = make_llm(fake_openai).describe(CLASSES, max_words=30)
    assert again == first
    assert len(fake_openai.hits) == hits
    # A different request (length) is not a cache hit: it needs the key.
    with pytest.raises(MissingAPIKeyError):
        make_llm(fake_openai).describe(CLASSES, max_words=31)
    assert len(fake_openai.hits) == hits


def test_cache_key_depends_on_model_and_endpoint_not_key(fake_openai, key, monkeypatch):
    make_llm(fake_openai).describe(["White Pelican"])
    make_llm(fake_openai, model="other-model").describe(["White Pelican"])
    assert len(fake_openai.hits) == 2
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another-key")
    make_llm(fake_openai).describe(["White Pelican"])
    assert len(fake_openai.hits) == 2


def test_key_is_never_written(fake_openai, key, tmp_cache):
    llm = make_llm(fake_openai)
    llm.describe(CLASSES)
    llm.aspect_questions(CLASSES, n_generate=12, n_select=5)
    files = [p for p in tmp_cache.rglob("*") if p.is_file()]
    assert len(files) == len(CLASSES) + 2
    assert all(p.is_relative_to(cache_dir("llm")) for p in files)
    for path in files:
        assert KEY not in path.read_text()
        assert KEY[-8:] not in path.read_text()
    assert KEY not in repr(llm) and KEY not in str(llm.config_dict())


def test_missing_key_fails_before_any_request(fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = make_llm(fake_openai)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY") as err:
        llm.describe(CLASSES)
    assert "export OPENAI_API_KEY" in str(err.value) and "api_key_env" in str(err.value)
    assert fake_openai.hits == []


def test_without_the_openai_package_the_error_names_the_paper_extra(fake_openai, monkeypatch):
    import sys

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setitem(sys.modules, "openai", None)  # as if the package were not installed
    llm = make_llm(fake_openai)
    with pytest.raises(LLMError, match=r"pip install -e '\.\[paper\]'"):
        llm.describe(CLASSES)
    assert fake_openai.hits == []


def test_api_key_env_names_another_variable(fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = make_llm(fake_openai, api_key_env="DEEPSEEK_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="DEEPSEEK_API_KEY"):
        llm.describe(CLASSES)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek")
    llm.describe(CLASSES[:1])
    assert fake_openai.hits[0]["authorization"] == "Bearer sk-deepseek"


def test_aspect_questions_two_step_conversation(fake_openai, key):
    llm = make_llm(fake_openai)
    questions = llm.aspect_questions(CLASSES, n_generate=100, n_select=10, num_images=5994)
    assert len(fake_openai.hits) == 2
    generate, select = (h["body"]["messages"] for h in fake_openai.hits)
    assert generate[0] == {"role": "system", "content": MAKD_SYSTEM}
    assert generate[1]["content"].startswith("The dataset consists of 3 classes and 5994 images.")
    assert "Pelagic Cormorant, Least Flycatcher, White Pelican" in generate[1]["content"]
    assert "Generate 100 feature-specific yes or no questions" in generate[1]["content"]
    # Step 2 continues the conversation: the model's own list, then the selection request.
    assert select[:2] == generate and select[2]["role"] == "assistant"
    assert select[3]["content"].startswith("Select 10 of the most relevant and distinct questions")
    assert [q.text for q in questions] == [f"Does the bird have feature number {i}?" for i in range(99, 89, -1)]
    assert questions[0].affirmative == "a photo of a bird with feature number 99"
    assert questions[0].negative == "a photo of a bird without feature number 99"
    assert questions[0].answers is None and questions[0].attribute is None


def test_the_ranking_turn_orders_the_selected_questions_by_importance(fake_openai, key):
    llm = make_llm(fake_openai)
    questions = llm.aspect_questions(CLASSES, n_generate=100, n_select=10, num_images=5994, rank=True)
    assert len(fake_openai.hits) == 3
    select, ranking = (h["body"]["messages"] for h in fake_openai.hits[1:])
    assert ranking[:4] == select and ranking[4]["role"] == "assistant"
    assert ranking[5]["content"].startswith("Rank these 10 questions by the importance")
    assert [q.text for q in questions] == [f"Does the bird have feature number {i}?" for i in range(90, 100)]


def test_a_ranking_that_loses_questions_is_refused(fake_openai, key, monkeypatch):
    llm = make_llm(fake_openai)
    real_chat = type(llm).chat

    def chat(self, conversations):
        replies = real_chat(self, conversations)
        if "Rank these" in conversations[0][-1]["content"]:
            return ["1. Does the bird have feature number 95?"]
        return replies

    monkeypatch.setattr(type(llm), "chat", chat)
    with pytest.raises(LLMError, match="does not hold exactly the 10 selected questions"):
        llm.aspect_questions(CLASSES, n_generate=100, n_select=10, rank=True)


def test_more_selected_than_generated_is_rejected_before_any_request(fake_openai, key):
    with pytest.raises(ValueError, match="n_select=20 > n_generate=10"):
        make_llm(fake_openai).aspect_questions(CLASSES, n_generate=10, n_select=20)
    assert fake_openai.hits == []


def test_too_few_generated_questions_is_a_clear_error(fake_openai, key):
    fake_openai.max_questions = 7
    with pytest.raises(LLMReplyError, match="generated 7 distinct yes/no questions, fewer than n_select=10"):
        make_llm(fake_openai).aspect_questions(CLASSES, n_generate=100, n_select=10)
    assert len(fake_openai.hits) == 1


def test_a_few_short_of_n_generate_only_warns(fake_openai, key):
    fake_openai.max_questions = 97
    with pytest.warns(UserWarning, match="97 distinct questions instead of 100"):
        questions = make_llm(fake_openai).aspect_questions(CLASSES, n_generate=100, n_select=3)
    assert len(questions) == 3


@pytest.mark.parametrize(
    "options, match",
    [
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"temperature": 3.0}, "temperature"),
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_base": -1.0}, "backoff_base"),
        ({"modle": "gpt-4o"}, "modle"),
    ],
)
def test_config_validation(options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        OpenAIConfig(**options)


def test_max_words_over_70_is_rejected_before_any_request(fake_openai, key):
    with pytest.raises(ValueError, match="77 tokens"):
        make_llm(fake_openai).describe(CLASSES, max_words=71)
    assert fake_openai.hits == []
