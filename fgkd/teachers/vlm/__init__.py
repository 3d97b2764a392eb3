"""MaKD's multimodal-LLM teacher: P(yes) per (image, aspect question) from next-token logits.

MaKD (section 3.2) asks an MLLM each aspect question about each image, prompting a yes or no
answer, reads the logits z_y (yes) and z_n (no) of the answer token and uses

    q_i = softmax([z_{y_i}, z_{n_i}])_0 = sigmoid(z_{y_i} - z_{n_i})

as the distillation target of aspect i. fgkd reads these logits from ONE forward pass (no text
generation), resolves the yes/no token ids from the tokenizer (never hard-coded), and merges the
spelling variants of each answer ("yes", "Yes", " yes", " Yes", ...) by logsumexp:
z_y = logsumexp_{v in yes variants} z_v.

Efficiency: every question about an image shares the prompt up to (and including) the image tokens.
The scorer runs that shared prefix once per image (the vision tower runs once), keeps its KV cache,
expands the cache to a batch of questions and runs only the question tokens
(``batched=True``). The reference path (``batched=False``) runs one full forward per
(image, question); the tests check both agree.

Any Hugging Face image-text-to-text model loadable with ``AutoProcessor`` and
``AutoModelForImageTextToText`` works (LLaVA, LLaVA-NeXT, InternVL ``-hf`` checkpoints, Qwen2-VL ...).
MaKD used InternVL2-8B (a remote-code checkpoint; its transformers-native counterparts are the
``OpenGVLab/InternVL*-hf`` repositories). Loading is offline by default: a missing model raises one
error saying what to download.

Modules, each importing only those above it:

- :mod:`~fgkd.teachers.vlm.config`: :class:`VlmConfig` and its validation.
- :mod:`~fgkd.teachers.vlm.loading`: :func:`load_vlm` (offline), :func:`resolve_device_dtype`,
  :class:`ModelNotAvailableError`.
- :mod:`~fgkd.teachers.vlm.readout`: the yes/no token ids (:func:`yes_no_token_ids`) and
  :func:`yes_probability`.
- :mod:`~fgkd.teachers.vlm.prefix`: :func:`render_prompt` and the shared image prefix
  (:func:`encode_shared_prefix`, :class:`SharedPrefix`).
- :mod:`~fgkd.teachers.vlm.runner`: the batched shared-prefix forward and the reference one.
- :mod:`~fgkd.teachers.vlm.scorer`: :class:`VlmAspectScorer`, :func:`zero_shot_accuracy`.
"""

from fgkd.teachers.vlm.config import DTYPES, VlmConfig
from fgkd.teachers.vlm.loading import ModelNotAvailableError, hf_cache_dir, load_vlm, resolve_device_dtype
from fgkd.teachers.vlm.prefix import PrefixSplitError, SharedPrefix, encode_shared_prefix, render_prompt
from fgkd.teachers.vlm.readout import ANSWER_WORDS, answer_token_ids, yes_no_token_ids, yes_probability
from fgkd.teachers.vlm.scorer import REDUCTIONS, VlmAspectScorer, iter_pil_images, zero_shot_accuracy

__all__ = [
    "ANSWER_WORDS",
    "DTYPES",
    "REDUCTIONS",
    "ModelNotAvailableError",
    "PrefixSplitError",
    "SharedPrefix",
    "VlmAspectScorer",
    "VlmConfig",
    "answer_token_ids",
    "encode_shared_prefix",
    "hf_cache_dir",
    "iter_pil_images",
    "load_vlm",
    "render_prompt",
    "resolve_device_dtype",
    "yes_no_token_ids",
    "yes_probability",
    "zero_shot_accuracy",
]
