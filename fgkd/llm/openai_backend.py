"""Chat Completions against any OpenAI-compatible endpoint (OpenAI, DeepSeek, vLLM, ...).

Every request and its reply are cached on disk (:class:`~fgkd.llm.cache.ResponseCache`) keyed by
``(base_url, model, messages, parameters)`` and never by the API key, so re-running a notebook
costs nothing and a fully cached run needs neither the network nor a key. The key is read from the
environment only when an uncached request must be sent, and is never written anywhere.

Retries: the ``openai`` client retries 429/5xx/connection errors itself, but its backoff base is
a module constant (0.5 s); fgkd turns the client's retries off and runs the same policy with a
configurable base: wait ``min(backoff_base * 2**attempt, backoff_max)`` seconds, or the server's
``Retry-After`` when it gives one (up to ``backoff_max``), for at most ``max_retries`` retries.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from fgkd.llm.base import ChatLLM, LLMError, LLMReplyError, MissingAPIKeyError
from fgkd.llm.cache import ResponseCache
from fgkd.llm.prompts import Message

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# HTTP statuses worth another try: timeout, lock conflict, rate limit, server errors.
RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class OpenAIConfig:
    """Options of the ``openai`` backend (``get_llm("openai", **options)``)."""

    model: str = "gpt-4o"  # MaKD's question maker; LEAD used GPT-3 (Table 1: also DeepSeek)
    base_url: str | None = None  # None: $OPENAI_BASE_URL, else the OpenAI API
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key
    temperature: float = 0.0  # 0 so a re-run without cache asks for the same text
    max_tokens: int | None = None  # None: the endpoint's default (not sent)
    max_retries: int = 6  # retries after the first try, on 408/409/429/5xx/connection errors
    backoff_base: float = 1.0  # seconds before the first retry; doubles each retry
    backoff_max: float = 60.0  # cap on one wait, seconds
    timeout: float = 120.0  # seconds per HTTP request
    cache_dir: str | None = None  # None: fgkd.paths.cache_dir("llm")
    category: str | None = None  # coarse category named in the description prompt ("bird")

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"OpenAIConfig.model must be a model name, got {self.model!r}")
        if self.base_url is not None and not str(self.base_url).startswith(("http://", "https://")):
            raise ValueError(
                f"OpenAIConfig.base_url must be an http(s) URL such as 'https://api.deepseek.com/v1', "
                f"got {self.base_url!r}"
            )
        from fgkd.secrets import env_name_problem

        if not isinstance(self.api_key_env, str) or not self.api_key_env:
            raise ValueError("OpenAIConfig.api_key_env must name an environment variable, e.g. 'OPENAI_API_KEY'")
        problem = env_name_problem(self.api_key_env, "OpenAIConfig.api_key_env")
        if problem:
            raise ValueError(problem)
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"OpenAIConfig.temperature must be in [0, 2], got {self.temperature!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"OpenAIConfig.max_tokens must be positive or None, got {self.max_tokens!r}")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"OpenAIConfig.max_retries must be an int >= 0, got {self.max_retries!r}")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError(
                f"OpenAIConfig.backoff_base and backoff_max must be >= 0 seconds, got "
                f"{self.backoff_base!r} and {self.backoff_max!r}"
            )
        if self.timeout <= 0:
            raise ValueError(f"OpenAIConfig.timeout must be > 0 seconds, got {self.timeout!r}")

    def resolved_base_url(self) -> str:
        url = self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        # One spelling per endpoint, so "…/v1" and "…/v1/" share cache entries.
        return url.rstrip("/")


class OpenAIChatLLM(ChatLLM):
    """LEAD descriptions and MaKD questions from an OpenAI-compatible Chat Completions endpoint."""

    name = "openai"

    def __init__(self, **options: Any) -> None:
        self.config = OpenAIConfig(**options)
        super().__init__(category=self.config.category)
        self.base_url = self.config.resolved_base_url()
        self.cache = ResponseCache(self.config.cache_dir)
        self._client: Any = None
        self.requests_sent = 0  # HTTP attempts, retries included (for tests and cost reports)

    def __repr__(self) -> str:
        # The key lives only inside the openai client; never show it.
        return f"OpenAIChatLLM(model={self.config.model!r}, base_url={self.base_url!r})"

    # -- requests ------------------------------------------------------------------------------

    def request_record(self, messages: Sequence[Message]) -> dict[str, Any]:
        """What identifies a reply: endpoint, model, messages and sampling parameters (no key)."""
        params: dict[str, Any] = {"temperature": self.config.temperature}
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        return {
            "base_url": self.base_url,
            "model": self.config.model,
            "messages": [dict(m) for m in messages],
            "params": params,
        }

    def chat(self, conversations: Sequence[list[Message]]) -> list[str]:
        records = [self.request_record(c) for c in conversations]
        cached = [self.cache.get(r) for r in records]
        missing = sum(c is None for c in cached)
        if missing:
            # Fail before the first request, not after paying for half of them.
            self._ensure_client(missing)
        replies = []
        for record, hit in zip(records, cached):
            response = hit if hit is not None else self._send(record)
            replies.append(response["content"])
        return replies

    def _ensure_client(self, n_uncached: int) -> None:
        if self._client is not None:
            return
        key = os.environ.get(self.config.api_key_env)
        if not key:
            raise MissingAPIKeyError(
                f"The 'openai' LLM backend needs an API key for {n_uncached} uncached request(s) "
                f"to {self.base_url}, but the environment variable {self.config.api_key_env} is not "
                f"set. Set it (export {self.config.api_key_env}=...) or pass "
                f"api_key_env='OTHER_VARIABLE' to read the key from another variable. Cached "
                f"replies (in {self.cache.root}) need no key."
            )
        try:
            import openai
        except ImportError:
            raise LLMError(
                f"The 'openai' LLM backend needs the openai package for {n_uncached} uncached request(s) "
                f"to {self.base_url}: it is an extra of the paper scale, install it with "
                "pip install -e '.[paper]' (or pip install openai). Cached replies need no package."
            ) from None

        # max_retries=0: fgkd's own loop retries, with a configurable backoff (module docstring).
        self._client = openai.OpenAI(
            api_key=key, base_url=self.base_url, max_retries=0, timeout=self.config.timeout
        )

    def _send(self, record: dict[str, Any]) -> dict[str, Any]:
        import openai

        attempt = 0
        while True:
            self.requests_sent += 1
            try:
                completion = self._client.chat.completions.create(
                    model=record["model"], messages=record["messages"], **record["params"]
                )
                break
            except openai.APIStatusError as err:
                retryable = err.status_code in RETRY_STATUSES or err.status_code >= 500
                if not retryable or attempt >= self.config.max_retries:
                    raise LLMError(self._failure(record, attempt, f"HTTP {err.status_code}: {err.message}")) from err
                retry_after = _retry_after_seconds(err.response)
            except openai.APIConnectionError as err:  # includes timeouts
                if attempt >= self.config.max_retries:
                    raise LLMError(self._failure(record, attempt, f"{type(err).__name__}: {err}")) from err
                retry_after = None
            time.sleep(self._backoff(attempt, retry_after))
            attempt += 1

        if not completion.choices or not completion.choices[0].message.content:
            raise LLMReplyError(
                f"{record['model']} at {self.base_url} returned no text (finish_reason="
                f"{completion.choices[0].finish_reason if completion.choices else None!r})"
            )
        choice = completion.choices[0]
        response = {
            "content": choice.message.content,
            "finish_reason": choice.finish_reason,
            "model": completion.model,
        }
        self.cache.put(record, response)
        return response

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and 0 <= retry_after <= self.config.backoff_max:
            return retry_after
        return min(self.config.backoff_base * 2.0**attempt, self.config.backoff_max)

    def _failure(self, record: dict[str, Any], attempt: int, what: str) -> str:
        return (
            f"chat request to {self.base_url} (model {record['model']}) failed after "
            f"{attempt + 1} attempt(s): {what}"
        )

    def config_dict(self) -> dict[str, Any]:
        """The options, for run records (the key is not an option, so it cannot leak here)."""
        return asdict(self.config)


def _retry_after_seconds(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            return None
    return None
