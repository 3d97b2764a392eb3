import pytest

import fgkd.llm as llm_mod
from fgkd.llm import LLM, get_llm, list_llms, register


def test_known_backends_listed():
    assert {"openai", "template", "file"} <= set(list_llms())


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="unknown LLM backend 'gpt5'; known: .*file.*openai.*template"):
        get_llm("gpt5")


def test_register_custom_backend(monkeypatch):
    monkeypatch.setattr(llm_mod, "_REGISTRY", dict(llm_mod._REGISTRY))

    class Echo(LLM):
        name = "echo"

        def describe(self, class_names, max_words=70):
            return {c: c for c in class_names}

        def aspect_questions(self, class_names, n_generate=100, n_select=50, num_images=None):
            return []

    register("echo", Echo)
    assert get_llm("echo").describe(["A"]) == {"A": "A"}
    with pytest.raises(ValueError, match="already registered"):
        register("echo", Echo)


def test_template_needs_a_world():
    with pytest.raises(ValueError, match="world="):
        get_llm("template")
