"""Keep API keys out of everything fgkd writes.

fgkd reads keys from environment variables only; params name the *variable* (``api_key_env:
OPENAI_API_KEY``), never the key. Two guards:

- :func:`env_name_problem`: a value that should be a variable name but is not one (most often a
  key pasted in its place) is refused without echoing it;
- :func:`mask`: anything shaped like a common API key is replaced by ``<masked key>`` in the
  messages fgkd raises or records (config errors, notebook failures in reports).
"""

from __future__ import annotations

import re

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Prefixes of the keys researchers paste: OpenAI/DeepSeek (sk-, sk-proj-), Hugging Face (hf_),
# GitHub (ghp_, github_pat_), AWS access key ids (AKIA), xAI (xai-), Google (AIza), bearer tokens.
KEY_LIKE = re.compile(
    r"(?:sk-(?:proj-|ant-)?|hf_|ghp_|github_pat_|xai-|AIza)[A-Za-z0-9_\-]{8,}"
    r"|AKIA[A-Z0-9]{12,}"
    r"|(?<=Bearer )[A-Za-z0-9._\-]{12,}"
)
MASK = "<masked key>"


def mask(text: str) -> str:
    """``text`` with every key-shaped substring replaced by ``<masked key>``."""
    return KEY_LIKE.sub(MASK, str(text))


def looks_like_key(value: str) -> bool:
    return bool(KEY_LIKE.search(str(value)))


def env_name_problem(value: object, what: str) -> str | None:
    """None when ``value`` is a valid environment variable name (or empty: "not set"); else a
    message naming ``what`` and the fix that never contains ``value`` itself."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and ENV_NAME.match(value):
        return None
    shape = "it looks like an API key pasted in its place" if looks_like_key(str(value)) else (
        f"a {len(str(value))}-character value that is not a variable name")
    return (f"{what} must be the NAME of the environment variable that holds the key (letters, digits, '_'), "
            f"e.g. DEEPSEEK_API_KEY; the value given is not one ({shape}; it is not shown). Fix: set it to the "
            f"variable's name and export the key in that variable")
