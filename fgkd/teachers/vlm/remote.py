"""The MLLM of the MaKD paper as its authors ran it: InternVL2-family checkpoints that ship as remote
code (``trust_remote_code``: their own ``InternVLChatModel``, chat template and ``<IMG_CONTEXT>``
tokens), which transformers' image-text-to-text classes do not load.

Opt-in: remote code runs only with ``trust_remote_code=True`` in the scorer options (only for
repositories you trust); without it such a checkpoint stops with a message naming the option and
the native alternative (``OpenGVLab/InternVL3-8B-hf``).

The readout is the native scorer's: P(yes) = sigmoid(logsumexp(z[yes ids]) - logsumexp(z[no ids]))
at the answer's first token, from one forward, no generation. The prompt is InternVL2's chat format
(``internlm2-chat`` / ``Hermes-2``: ``<|im_start|>`` turns, the model's ``system_message``), the
image a single 448 px tile (no dynamic tiling) as ``<img>`` + ``num_image_token`` x
``<IMG_CONTEXT>`` + ``</img>``, whose embeddings the model's ``extract_feature`` replaces. The
system turn and the image are the shared prefix: run once per image through the language model,
its KV cache copied for each batch of questions.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import torch

from fgkd.io import stable_hash
from fgkd.teachers.vlm.config import VlmConfig, remote_code_message
from fgkd.teachers.vlm.loading import ModelNotAvailableError, _missing_model_message, resolve_device_dtype
from fgkd.teachers.vlm.prefix import SharedPrefix
from fgkd.teachers.vlm.readout import yes_no_token_ids, yes_probability
from fgkd.teachers.vlm.runner import _Runner

IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # InternVL's normalisation


def is_remote_internvl(model_id: str, local_files_only: bool = True, revision: str | None = None) -> bool:
    """Whether ``model_id`` is an InternVL2-style remote-code checkpoint (its config's ``auto_map``
    names an ``AutoModel`` and its ``model_type`` is ``*internvl_chat``), read from config.json only."""
    import json
    from pathlib import Path

    folder = Path(model_id).expanduser()
    path = folder / "config.json" if folder.is_dir() else None
    if path is None:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(model_id, "config.json", revision=revision)
        path = Path(hit) if isinstance(hit, str) else None
    if path is None or not path.is_file():
        return False
    config = json.loads(path.read_text())
    return str(config.get("model_type", "")).endswith("internvl_chat") and "AutoModel" in config.get("auto_map", {})


class InternVLChatScorer:
    """P(yes) of a remote-code InternVL2-family model for every (image, question); same interface
    and readout as :class:`fgkd.teachers.vlm.VlmAspectScorer` (``score`` -> ``[N, Q]``)."""

    backend = "vlm-remote"

    def __init__(self, model_id: str, **options: Any):
        from transformers import AutoModel, AutoTokenizer

        self.config = VlmConfig(model_id=model_id, **options)
        if not self.config.trust_remote_code:
            raise ValueError(remote_code_message(model_id))
        device, dtype = resolve_device_dtype(self.config.device, self.config.dtype)
        common = dict(local_files_only=self.config.local_files_only, trust_remote_code=True,
                      revision=self.config.revision)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id, **common)
            self.model = AutoModel.from_pretrained(model_id, dtype=dtype, **common).to(device).eval()
        except OSError as exc:
            if self.config.local_files_only:
                raise ModelNotAvailableError(_missing_model_message(model_id, exc)) from None
            raise
        self.device, self.dtype = device, dtype
        self.context_id = self.tokenizer.convert_tokens_to_ids(IMG_CONTEXT)
        self.model.img_context_token_id = self.context_id  # what the model's own chat() sets
        self.num_image_token = int(self.model.num_image_token)
        vision = getattr(self.model.config, "vision_config", None)
        self.image_size = int(getattr(self.model.config, "force_image_size", None) or getattr(vision, "image_size", 448))
        self.system = str(getattr(self.model, "system_message", "") or "")
        self.yes_ids, self.no_ids = yes_no_token_ids(self.tokenizer, exact=self.config.prompt_mode == "authors")
        # the native scorer's prefix-and-batches runner, on the language model (the image is in the prefix's embeddings)
        self._runner = _Runner(self.model.language_model, SimpleNamespace(tokenizer=self.tokenizer),
                               self.config.question_batch_size)

    @property
    def name(self) -> str:
        return f"vlm:{self.config.model_id}"

    @property
    def provenance(self) -> dict:
        return {"backend": self.backend, "model_id": self.config.model_id, "revision": self.config.revision,
                "model_class": type(self.model).__name__, "dtype": str(self.dtype).replace("torch.", ""),
                "prompt_template": self.config.prompt_template, "system_hash": stable_hash(self.system),
                "image": f"one {self.image_size} px tile, {self.num_image_token} tokens",
                "yes_token_ids": self.yes_ids, "no_token_ids": self.no_ids, "prompt_mode": self.config.prompt_mode,
                "readout": "sigmoid(logsumexp(z[yes ids]) - logsumexp(z[no ids])) at the answer's first token"}

    # -- prompt and image ----------------------------------------------------------------------

    def _prefix_text(self) -> str:
        system = f"<|im_start|>system\n{self.system}<|im_end|>\n" if self.system else ""
        return f"{system}<|im_start|>user\n{IMG_START}{IMG_CONTEXT * self.num_image_token}{IMG_END}\n"

    def _suffix_text(self, question: Any) -> str:
        from fgkd.teachers.vlm.scorer import _question_text

        user = self.config.prompt_template.format(question=_question_text(question))
        return f"{user}<|im_end|>\n<|im_start|>assistant\n"

    def _pixels(self, image) -> torch.Tensor:
        from torchvision.transforms import functional as F

        image = image.convert("RGB").resize((self.image_size, self.image_size), resample=3)  # bicubic
        x = F.normalize(F.to_tensor(image), IMAGENET_MEAN, IMAGENET_STD)
        return x[None].to(self.device, self.dtype)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _embeds(self, image, token_ids: list[int]) -> torch.Tensor:
        ids = torch.tensor(token_ids, device=self.device)
        embeds = self.model.language_model.get_input_embeddings()(ids[None])  # [1, L, C]
        vit = self.model.extract_feature(self._pixels(image)).reshape(-1, embeds.shape[-1]).to(embeds.dtype)
        mask = ids[None] == self.context_id
        if int(mask.sum()) != len(vit):
            raise ValueError(f"{int(mask.sum())} {IMG_CONTEXT} tokens but {len(vit)} image embeddings")
        embeds = embeds.clone()
        embeds[mask] = vit
        return embeds

    # -- scoring -------------------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, images, questions: Sequence[Any], batched: bool | None = None, progress: bool = False) -> np.ndarray:
        from fgkd.teachers.vlm.scorer import _stack, iter_pil_images

        if len(questions) == 0:
            raise ValueError("no aspect questions given")
        batched = self.config.batched if batched is None else batched
        suffixes = [self._ids(self._suffix_text(q)) for q in questions]
        prefix = self._ids(self._prefix_text())
        rows = []
        for image in iter_pil_images(images):
            logits = self._shared(image, prefix, suffixes) if batched else self._naive(image, prefix, suffixes)
            rows.append(yes_probability(logits, self.yes_ids, self.no_ids).double().cpu().numpy())
        return _stack(rows, len(questions))

    def _naive(self, image, prefix: list[int], suffixes: list[list[int]]) -> torch.Tensor:
        """Reference: one full forward of (system, image, question) per question; ``[Q, V]``."""
        return torch.stack([self._runner._forward({"inputs_embeds": self._embeds(image, prefix + suffix)}, keep=1,
                                                  use_cache=False).logits[0, -1].float() for suffix in suffixes])

    def _shared(self, image, prefix: list[int], suffixes: list[list[int]]) -> torch.Tensor:
        """The system turn and the image once, then the questions in batches from its KV cache; ``[Q, V]``."""
        shared = SharedPrefix(prefix={"inputs_embeds": self._embeds(image, prefix)}, suffixes=suffixes)
        runs = self._runner.shared_prefix_runs(shared, last_only=True)
        return torch.cat([logits.float() for start, _, _, logits in runs if start >= 0])
