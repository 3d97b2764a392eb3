"""The LLM interface and the two tasks the papers give an LLM.

- ``describe(class_names, max_words)``: LEAD's class descriptions, one per class. CLIP encodes each
  description into the class prototype P_c; p_t = softmax(f_t . P^T / tau).
- ``aspect_questions(class_names, n_generate, n_select)``: MaKD's Q aspect questions (section 3.1),
  ranked so that the top-10/20/30/50 ablation is a prefix of the list.

:class:`ChatLLM` implements both tasks on top of one primitive, ``chat(conversations)``, with the
prompts of :mod:`fgkd.llm.prompts`; chat backends (openai) only move messages.
"""

from __future__ import annotations

import abc
import warnings
from typing import ClassVar, Sequence

from fgkd.llm import prompts
from fgkd.llm.perturb import truncate_words
from fgkd.llm.questions import AspectQuestion, parse_question_list

# CLIP's text encoder reads 77 tokens including start and end; LEAD keeps descriptions to 70 words
# so that they (mostly) fit, and its Table 2 length ablation stops at 70.
MAX_WORDS_LIMIT = 70


class LLMError(RuntimeError):
    """An LLM backend could not produce what was asked."""


class MissingAPIKeyError(LLMError):
    """A request had to be sent but no API key is set."""


class LLMReplyError(LLMError):
    """The model's reply cannot be used (empty, or fewer questions than requested)."""


def validate_class_names(class_names: Sequence[str]) -> list[str]:
    """``class_names`` as a list, after checking it is a non-empty list of distinct names."""
    if isinstance(class_names, str):
        raise ValueError(
            f"class_names must be a list of class names, got the single string {class_names!r}; "
            f"wrap it: [{class_names!r}]"
        )
    names = list(class_names)
    if not names:
        raise ValueError("class_names is empty: give at least one class name")
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise ValueError(f"class_names must be non-empty strings, got {bad[:3]!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"class_names must be distinct; repeated: {dupes[:5]!r}")
    return names


def validate_max_words(max_words: int) -> int:
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1:
        raise ValueError(f"max_words must be a positive int, got {max_words!r}")
    if max_words > MAX_WORDS_LIMIT:
        raise ValueError(
            f"max_words={max_words} is over {MAX_WORDS_LIMIT}: CLIP's text encoder reads at most 77 "
            f"tokens (start and end included), so longer descriptions would be cut by the "
            f"tokenizer; LEAD limits descriptions to {MAX_WORDS_LIMIT} words for this reason. "
            f"Use max_words <= {MAX_WORDS_LIMIT}."
        )
    return max_words


def validate_question_counts(n_generate: int, n_select: int) -> None:
    for name, value in (("n_generate", n_generate), ("n_select", n_select)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if n_select > n_generate:
        raise ValueError(
            f"n_select={n_select} > n_generate={n_generate}: the selection step picks n_select of "
            f"the n_generate generated questions (MaKD: Q of N = 100)"
        )


def clean_description(reply: str, max_words: int) -> str:
    """The reply as one line (surrounding quotes removed), cut to ``max_words`` words."""
    text = " ".join(reply.split()).strip("\"'“”")
    return truncate_words(text, max_words)


class LLM(abc.ABC):
    """What fgkd asks of a language model. Backends: ``openai``, ``template``, ``file``."""

    name: ClassVar[str]

    @abc.abstractmethod
    def describe(self, class_names: Sequence[str], max_words: int = MAX_WORDS_LIMIT) -> dict[str, str]:
        """One description of at most ``max_words`` words per class: ``{class_name: text}``."""

    @abc.abstractmethod
    def aspect_questions(
        self,
        class_names: Sequence[str],
        n_generate: int = 100,
        n_select: int = 50,
        num_images: int | None = None,
        rank: bool = False,
    ) -> list[AspectQuestion]:
        """``n_select`` yes/no aspect questions, best first, chosen from ``n_generate`` candidates.

        ``num_images`` is the dataset size M of MaKD's prompt; backends that do not prompt ignore it.
        ``rank``: a chat backend asks, in a further turn, for the selected questions ranked by the
        importance of their aspect (MaKD section 4.3, Figure 2); other backends' lists are ranked already.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ChatLLM(LLM):
    """Both tasks written as chat conversations; subclasses implement :meth:`chat`.

    Args:
        category: the coarse category of the classes (``"bird"``), named in the description
            prompt so ambiguous class names are read right; None leaves it out.
    """

    def __init__(self, category: str | None = None) -> None:
        self.category = category

    @abc.abstractmethod
    def chat(self, conversations: Sequence[list[prompts.Message]]) -> list[str]:
        """The assistant's reply text to each conversation, in order.

        Takes a batch so that a backend can check everything it needs (e.g. an API key for the
        uncached requests) before it sends the first request.
        """

    def describe(self, class_names: Sequence[str], max_words: int = MAX_WORDS_LIMIT) -> dict[str, str]:
        """One chat request per class (LEAD); the reply, cut to ``max_words`` words, is the description."""
        names = validate_class_names(class_names)
        validate_max_words(max_words)
        conversations = [prompts.describe_messages(n, max_words, self.category) for n in names]
        replies = self.chat(conversations)
        out = {}
        for name, reply in zip(names, replies):
            text = clean_description(reply, max_words)
            if not text:
                raise LLMReplyError(f"the model returned an empty description for class {name!r}")
            out[name] = text
        return out

    def aspect_questions(
        self,
        class_names: Sequence[str],
        n_generate: int = 100,
        n_select: int = 50,
        num_images: int | None = None,
        rank: bool = False,
    ) -> list[AspectQuestion]:
        """MaKD's two-step prompt: generate ``n_generate`` questions, then select ``n_select``.

        The selection reply's order is the ranking (the model is asked for the most relevant
        first), so the top-k ablation takes a prefix; with ``rank`` a third turn asks for the
        selected questions ranked by importance (section 4.3) and that order is the ranking (it
        must hold exactly the selected questions). ``num_images`` fills the paper's "and M
        images" clause. A generation reply with fewer than ``n_generate`` (but at least
        ``n_select``) distinct questions only warns, since models often stop a few short of 100.
        """
        names = validate_class_names(class_names)
        validate_question_counts(n_generate, n_select)
        generate = prompts.makd_generate_messages(names, n_generate, num_images)
        generated_reply = self.chat([generate])[0]
        generated = parse_question_list(generated_reply)
        if len(generated) < n_select:
            raise LLMReplyError(
                f"the model generated {len(generated)} distinct yes/no questions, fewer than "
                f"n_select={n_select}; lower n_select or use a stronger model. Reply starts: "
                f"{generated_reply[:200]!r}"
            )
        if len(generated) < n_generate:
            warnings.warn(
                f"the model generated {len(generated)} distinct questions instead of {n_generate}",
                stacklevel=2,
            )
        select = prompts.makd_select_messages(generate, generated_reply, n_select)
        selected_reply = self.chat([select])[0]
        selected = parse_question_list(selected_reply)
        if len(selected) < n_select:
            raise LLMReplyError(
                f"the model selected {len(selected)} distinct questions, fewer than "
                f"n_select={n_select}. Reply starts: {selected_reply[:200]!r}"
            )
        selected = selected[:n_select]
        if rank:
            ranking = prompts.makd_rank_messages(select, selected_reply, len(selected))
            ranked_reply = self.chat([ranking])[0]
            ranked = parse_question_list(ranked_reply)
            if sorted(ranked) != sorted(selected):
                missing = sorted(set(selected) - set(ranked))[:3]
                extra = sorted(set(ranked) - set(selected))[:3]
                raise LLMReplyError(
                    f"the ranking reply does not hold exactly the {len(selected)} selected questions "
                    f"(missing {missing}, not selected {extra}). Reply starts: {ranked_reply[:200]!r}"
                )
            selected = ranked
        return [AspectQuestion.from_text(text) for text in selected]
