"""The papers' prompts, written down once.

LEAD (supplementary, section 9 and Table 6) asks an LLM (GPT-3; DeepSeek in Table 1) for one
description of the visual features of each fine-grained category, limited to 70 words because
CLIP's text encoder reads at most 77 tokens. The paper calls its prompt "hand-crafted" without
printing it; :func:`describe_messages` is fgkd's wording of that request.

MaKD (section 3.1) uses GPT-4o with the system prompt "You are a good question maker." and two
instructions, quoted verbatim in :data:`MAKD_GENERATE` and :data:`MAKD_SELECT`; the selection is
asked in the same conversation, after the model's list of N questions.
"""

from __future__ import annotations

from typing import Sequence

Message = dict[str, str]

DESCRIBE_SYSTEM = "You are a helpful assistant that writes concise visual descriptions."
DESCRIBE_USER = (
    "Describe the visual features of {article} {subject} in at most {max_words} words. "
    "Write one plain-text paragraph about what it looks like, without a title or a list."
)

MAKD_SYSTEM = "You are a good question maker."
MAKD_GENERATE = (
    "The dataset consists of {num_classes} classes{images_clause}. The class list is as follows: "
    "{class_list}, Generate {n_generate} feature-specific yes or no questions, focusing on clear "
    "and distinct aspects of the objects in the images in the dataset."
)
MAKD_SELECT = (
    "Select {n_select} of the most relevant and distinct questions from the list, focusing on "
    "various key features that distinguish different class in the dataset."
)


def describe_messages(class_name: str, max_words: int, category: str | None = None) -> list[Message]:
    """LEAD-style request for one class: ``"Describe the visual features of a {class} ..."``.

    ``category`` (e.g. ``"bird"``) disambiguates names such as "Cardinal":
    ``"a Cardinal (a bird)"``.
    """
    subject = f"{class_name} ({_article(category)})" if category else class_name
    article = "an" if class_name[:1].lower() in "aeiou" else "a"
    user = DESCRIBE_USER.format(article=article, subject=subject, max_words=max_words)
    return [{"role": "system", "content": DESCRIBE_SYSTEM}, {"role": "user", "content": user}]


def makd_generate_messages(
    class_names: Sequence[str], n_generate: int, num_images: int | None = None
) -> list[Message]:
    """MaKD step 1: system prompt + "Generate N feature-specific yes or no questions" request.

    The paper's prompt names the number of images M ("C classes and M images"); the clause is
    left out when ``num_images`` is unknown.
    """
    images_clause = f" and {num_images} images" if num_images is not None else ""
    user = MAKD_GENERATE.format(
        num_classes=len(class_names),
        images_clause=images_clause,
        class_list=", ".join(class_names),
        n_generate=n_generate,
    )
    return [{"role": "system", "content": MAKD_SYSTEM}, {"role": "user", "content": user}]


def makd_select_messages(
    generate_messages: Sequence[Message], generate_reply: str, n_select: int
) -> list[Message]:
    """MaKD step 2: the step-1 conversation, the model's list, then "Select Q of the most ..."."""
    return [
        *generate_messages,
        {"role": "assistant", "content": generate_reply},
        {"role": "user", "content": MAKD_SELECT.format(n_select=n_select)},
    ]


MAKD_RANK = (
    "Rank these {n_select} questions by the importance of the aspect each asks about for telling the "
    "classes apart, the most important first. Reply with the same questions, one per line, numbered."
)


def makd_rank_messages(select_messages: Sequence[Message], select_reply: str, n_select: int) -> list[Message]:
    """MaKD's ranking turn (section 4.3: the LLM "ranks them based on the importance of each
    aspect"): the selection conversation, its reply, then the request to rank the selected questions.
    The paper gives no wording for it; this is fgkd's."""
    return [
        *select_messages,
        {"role": "assistant", "content": select_reply},
        {"role": "user", "content": MAKD_RANK.format(n_select=n_select)},
    ]


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
