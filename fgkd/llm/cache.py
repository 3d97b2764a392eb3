"""On-disk cache of chat requests and their replies.

One JSON file per request, named by ``stable_hash`` of the request (endpoint, model, messages,
sampling parameters) and written atomically, so a re-run never pays for a request twice and a
fully cached run works offline, without an API key. The API key is never part of a request record:
it identifies the payer, not the reply.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from fgkd.io import atomic_write_json, stable_hash
from fgkd.paths import cache_dir


class ResponseCache:
    """``request dict -> response dict`` store under ``root`` (default ``cache_dir("llm")``).

    Files are ``<root>/<hash[:2]>/<hash>.json`` holding ``{"request": ..., "response": ...}``; the
    stored request is compared on read, so a (very unlikely) hash collision is a miss, not a wrong
    reply.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else cache_dir("llm")

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        return stable_hash(request, length=32)

    def path(self, request: dict[str, Any]) -> Path:
        key = self.key(request)
        return self.root / key[:2] / f"{key}.json"

    def get(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The cached response of ``request``, or None when it was never stored."""
        path = self.path(request)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            # Atomic writes make this near impossible; re-asking is the safe answer.
            warnings.warn(f"ignoring unreadable LLM cache file {path}: {err}", stacklevel=2)
            return None
        if not isinstance(record, dict) or not isinstance(record.get("response"), dict):
            # Valid JSON of the wrong shape (hand-edited, or another tool's file): re-ask and rewrite it.
            warnings.warn(f"ignoring LLM cache file {path}: it is not a {{'request': ..., 'response': {{...}}}} "
                          "record; the reply will be asked for again and the file rewritten", stacklevel=2)
            return None
        # JSON round trip so tuples/lists in the live request compare like the stored ones.
        if record.get("request") != json.loads(json.dumps(request, default=str)):
            return None
        return record["response"]

    def put(self, request: dict[str, Any], response: dict[str, Any]) -> Path:
        path = self.path(request)
        atomic_write_json(path, {"request": request, "response": response})
        return path

    def __contains__(self, request: dict[str, Any]) -> bool:
        return self.get(request) is not None
