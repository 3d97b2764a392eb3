"""The batched forward passes: the shared prefix once, then its KV cache copied to batches of suffixes;
and the reference full forward per (image, text)."""

from __future__ import annotations

import copy
import inspect
from typing import Any, Iterable, Sequence

import torch

from fgkd.teachers.vlm.prefix import SharedPrefix


def accepts(model, name: str) -> bool:
    """Whether ``model``'s forward takes the argument ``name`` (transformers renames them)."""
    return name in inspect.signature(model.forward).parameters


def _to_device(inputs: dict, device, dtype) -> dict:
    out = {}
    for key, value in inputs.items():
        if hasattr(value, "to"):
            # Float inputs (pixel values) follow the model dtype; ids and masks keep theirs.
            value = value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
        out[key] = value
    return out


def pad_right(suffixes: Sequence[Sequence[int]], pad_id: int):
    """``(ids [n, L], lengths [n])``, right padded. Causal attention never lets a real token see the
    padding after it, so right padding changes no real token's output and needs no attention mask."""
    lengths = torch.tensor([len(s) for s in suffixes])
    ids = torch.full((len(suffixes), int(lengths.max())), pad_id, dtype=torch.long)
    for row, suffix in enumerate(suffixes):
        ids[row, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
    return ids, lengths


class _Runner:
    """Holds the loaded model and processor; runs the shared-prefix and naive forwards."""

    def __init__(self, model, processor, batch_size: int):
        self.model = model
        self.processor = processor
        self.batch_size = batch_size
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.keep_logits = accepts(model, "logits_to_keep")
        # transformers 5 renamed the forward's KV-cache argument past_key_values to cache (the old name warns)
        self.cache_arg = "cache" if accepts(model, "cache") else "past_key_values"
        tok = processor.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0

    def _forward(self, inputs: dict, keep: Any = None, **kwargs):
        if keep is not None and self.keep_logits:
            kwargs["logits_to_keep"] = keep
        return self.model(**inputs, return_dict=True, **kwargs)

    def shared_prefix_runs(self, shared: SharedPrefix, last_only: bool = False) -> Iterable[tuple[int, Any, Any, Any]]:
        """Run the prefix once, then the suffixes in batches from copies of its KV cache.

        Yields first ``(-1, None, None, prefix_last_logits [V])``, then per batch
        ``(start, suffix_ids [n, L], lengths [n], logits)`` with logits ``[n, L, V]``, or ``[n, V]`` at
        each suffix's last real token when ``last_only``.
        """
        prefix = _to_device(shared.prefix, self.device, self.dtype)
        out = self._forward(prefix, keep=1, use_cache=True)
        cache = out.get("cache") if out.get("cache") is not None else out.past_key_values
        yield -1, None, None, out.logits[0, -1]
        for start in range(0, len(shared.suffixes), self.batch_size):
            chunk = shared.suffixes[start : start + self.batch_size]
            ids, lengths = pad_right(chunk, self.pad_id)
            last = (lengths - 1).to(self.device)[:, None]  # [n, 1] position of each last real token
            # The forward appends to the cache in place, so every batch starts from its own copy.
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(chunk))
            logits = self._forward(
                {"input_ids": ids.to(self.device)},
                keep=last if last_only else None,  # per-row positions: only [n, 1, V] logits computed
                **{self.cache_arg: batch_cache},
                use_cache=True,
            ).logits
            if last_only:
                if logits.shape[1] != 1:  # the model ignored logits_to_keep
                    logits = torch.take_along_dim(logits, last[..., None], dim=1)
                logits = logits[:, 0]
            yield start, ids, lengths, logits

    def full_logits(self, image, text: str, keep: int):
        """Reference path: one full forward of (image, text); logits of the last ``keep`` positions."""
        inputs = self.processor(text=[text], images=[image], return_tensors="pt")
        inputs = _to_device(dict(inputs), self.device, self.dtype)
        logits = self._forward(inputs, keep=keep, use_cache=False).logits[0]
        return logits[-keep:], inputs["input_ids"][0]
