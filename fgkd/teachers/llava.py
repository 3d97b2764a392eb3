"""The embedded MLLM's architecture: a LLaVA built from an open_clip ViT, and its prefix-cache forward.

:func:`build_model` makes a real ``LlavaForConditionalGeneration`` whose vision tower is transformers'
``CLIPVisionModel`` holding an embedded CLIP's image-encoder weights (:func:`clip_vision_state_dict`
maps open_clip's names, the fused attention projection split into q, k, v), an MLP projector and a
Llama; :func:`build_processor` its ``LlavaProcessor`` with a word-level tokenizer built offline.
:func:`prefix_cache` runs each image's prefix (text before the image, then the image tokens) once
and :func:`continue_prefix` continues many texts from its key-value cache: the training's forward
and :func:`answer_probabilities`, which agrees with :class:`~fgkd.teachers.vlm.VlmAspectScorer`.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np
import torch

QUESTION_PROMPT = "{question} Answer with yes or no."  # VlmConfig's default prompt_template

# The LLaVA-1.5 conversation layout (the tiny test VLM's too), rendered by the processor.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %} "
    "{% else %}ASSISTANT: "
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "</s>{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>", "<image>")
# The image tokens the language model reads: the vision tower's last layer, class token included
# ("full"; LLaVA drops it, "default"). Measured on held-out pool images (world:bird, 300 steps): mean
# AUC 0.54 with the class token, 0.51 without; the global CLIP embedding is the easiest signal to use.
FEATURES = "full"


def build_processor(image_size: int, words: Sequence[str], clip_visual: Any):
    """A ``LlavaProcessor``: a word-level tokenizer over ``words`` (lower-cased, ``<unk>`` for the
    rest), a ``CLIPImageProcessor`` at the world's size, the chat template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import CLIPImageProcessor, LlavaProcessor, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok.add_special_tokens(list(SPECIALS))
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>",
                                        extra_special_tokens={"image_token": "<image>"})
    size = image_size
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=clip_visual.patch_size[0],
                          vision_feature_select_strategy=FEATURES, num_additional_image_tokens=1,
                          chat_template=CHAT_TEMPLATE)


def build_model(shape: dict[str, Any], tokenizer, clip_visual: Any, seed: int = 0):
    """The LLaVA: its vision tower is ``clip_visual``'s architecture (an open_clip
    ``VisionTransformer``, the embedded CLIP's image encoder) with its weights; the projector and the
    Llama (``shape``: ``text_hidden``, ``text_layers``, ``heads``) random from ``seed``."""
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = clip_vision_config(clip_visual)
    tokens = (vision.image_size // vision.patch_size) ** 2 + (FEATURES == "full")  # the class token
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=shape["text_hidden"],
                       intermediate_size=4 * shape["text_hidden"], num_hidden_layers=shape["text_layers"],
                       num_attention_heads=shape["heads"], num_key_value_heads=shape["heads"],
                       max_position_embeddings=4 * (tokens + 64), pad_token_id=tokenizer.pad_token_id,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       tie_word_embeddings=True)
    llava = LlavaConfig(vision_config=vision, text_config=text,
                        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), image_seq_length=tokens,
                        vision_feature_layer=-1, vision_feature_select_strategy=FEATURES,
                        projector_hidden_act="gelu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(llava)
    model.model.vision_tower.load_state_dict(clip_vision_state_dict(clip_visual))
    return model


def clip_vision_config(visual: Any):
    """transformers' ``CLIPVisionConfig`` of an open_clip ``VisionTransformer`` (class token,
    pre-norm blocks, exact GELU; no attention pooling or layer scale)."""
    from transformers import CLIPVisionConfig

    width = visual.conv1.out_channels
    blocks = visual.transformer.resblocks
    if getattr(visual, "attn_pool", None) is not None or not isinstance(blocks[0].ls_1, torch.nn.Identity):
        raise ValueError("clip_vision_config: only plain open_clip ViTs (no attention pooling or layer "
                         "scale) map onto transformers' CLIPVisionModel")
    return CLIPVisionConfig(hidden_size=width, intermediate_size=blocks[0].mlp.c_fc.out_features,
                            num_hidden_layers=len(blocks), num_attention_heads=blocks[0].attn.num_heads,
                            image_size=visual.image_size[0], patch_size=visual.patch_size[0],
                            projection_dim=width, hidden_act="gelu", layer_norm_eps=blocks[0].ln_1.eps)


def clip_vision_state_dict(visual: Any) -> dict[str, torch.Tensor]:
    """An open_clip ``VisionTransformer``'s weights under transformers' ``CLIPVisionModel`` names
    (the fused attention input projection split into q, k and v)."""
    sd = visual.state_dict()
    out = {"embeddings.class_embedding": sd["class_embedding"],
           "embeddings.patch_embedding.weight": sd["conv1.weight"],
           "embeddings.position_embedding.weight": sd["positional_embedding"]}
    for ours, theirs in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        for p in ("weight", "bias"):
            out[f"{ours}.{p}"] = sd[f"{theirs}.{p}"]
    for i in range(len(visual.transformer.resblocks)):
        src, dst = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        for p in ("weight", "bias"):
            q, k, v = sd[f"{src}attn.in_proj_{p}"].chunk(3)
            out.update({f"{dst}self_attn.q_proj.{p}": q, f"{dst}self_attn.k_proj.{p}": k,
                        f"{dst}self_attn.v_proj.{p}": v,
                        f"{dst}self_attn.out_proj.{p}": sd[f"{src}attn.out_proj.{p}"],
                        f"{dst}layer_norm1.{p}": sd[f"{src}ln_1.{p}"], f"{dst}layer_norm2.{p}": sd[f"{src}ln_2.{p}"],
                        f"{dst}mlp.fc1.{p}": sd[f"{src}mlp.c_fc.{p}"], f"{dst}mlp.fc2.{p}": sd[f"{src}mlp.c_proj.{p}"]})
    return {k: v.clone() for k, v in out.items()}


class Prompts:
    """Token ids of the shared prefix (up to the image tokens) and of each suffix text."""

    def __init__(self, processor, image_tokens: int) -> None:
        from fgkd.teachers.vlm.prefix import render_prompt

        self.tokenizer = processor.tokenizer
        self.processor = processor
        self.image_id = self.tokenizer.convert_tokens_to_ids("<image>")
        probe = self.tokenizer(render_prompt(processor, "x"))["input_ids"]
        self.text_prefix = probe[:probe.index(self.image_id)]  # the prefix: these, then the image tokens
        self.prefix = [*self.text_prefix, *([self.image_id] * image_tokens)]
        # Each distinct text is tokenised once, however many epochs ask for it.
        self.render = functools.lru_cache(maxsize=None)(self._suffix)
        self.words = functools.lru_cache(maxsize=None)(self._words)
        self.eos = self.tokenizer.eos_token_id
        self.yes = self.tokenizer.convert_tokens_to_ids("yes")
        self.no = self.tokenizer.convert_tokens_to_ids("no")

    def _suffix(self, user_text: str) -> tuple[int, ...]:
        """The prompt's ids after the image token (the user text, then the answer's cue)."""
        from fgkd.teachers.vlm.prefix import render_prompt

        ids = self.tokenizer(render_prompt(self.processor, user_text))["input_ids"]
        return tuple(ids[ids.index(self.image_id) + 1:])

    def _words(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def pixel_values(processor, images: np.ndarray) -> torch.Tensor:
    """The image processor's output for uint8 ``[N, S, S, 3]`` images (what the scorer feeds)."""
    from PIL import Image

    out = []
    for start in range(0, len(images), 512):
        pil = [Image.fromarray(a) for a in images[start:start + 512]]
        out.append(processor.image_processor(images=pil, return_tensors="pt")["pixel_values"])
    return torch.cat(out)


def _lm_parts(model):
    return model.model.language_model, model.get_input_embeddings(), model.lm_head


def prefix_cache(model, prompts: Prompts, pixels: torch.Tensor):
    """Run [text prefix, image features] through the language model once: per-layer (keys, values)."""
    lm, embed, _ = _lm_parts(model)
    features = model.model.get_image_features(pixel_values=pixels, vision_feature_layer=-1,
                                              vision_feature_select_strategy=FEATURES, return_dict=True)
    features = torch.stack(list(features.pooler_output))  # [B, T, D]
    text = embed(torch.tensor(prompts.text_prefix))[None].expand(len(features), -1, -1)
    embeds = torch.cat([text, features], dim=1)  # the prefix's text tokens come before the image
    out = lm(inputs_embeds=embeds, use_cache=True)
    cache = out.get("cache") if out.get("cache") is not None else out.past_key_values
    return [(layer.keys, layer.values) for layer in cache.layers], embeds.shape[1]


def continue_prefix(model, layers, prefix_length: int, owner: torch.Tensor, suffixes: list[Sequence[int]]):
    """Hidden states of each suffix after its image's cached prefix: [R, L, D], and lengths [R]."""
    from transformers import DynamicCache

    from fgkd.teachers.vlm.runner import accepts, pad_right

    lm, embed, _ = _lm_parts(model)
    ids, lengths = pad_right(suffixes, 0)  # <pad> (id 0) after every real token, and masked out
    width = ids.shape[1]
    cache = DynamicCache()
    for i, (k, v) in enumerate(layers):
        cache.update(k[owner], v[owner], i)
    mask = torch.cat([torch.ones(len(suffixes), prefix_length, dtype=torch.long),
                      (torch.arange(width)[None] < lengths[:, None]).long()], dim=1)
    positions = prefix_length + torch.arange(width)[None].expand(len(suffixes), -1)
    out = lm(inputs_embeds=embed(ids), attention_mask=mask, position_ids=positions,
             **{"cache" if accepts(lm, "cache") else "past_key_values": cache}, use_cache=True)
    return out.last_hidden_state, lengths, ids


@torch.inference_mode()
def answer_probabilities(model, processor, images: np.ndarray, questions: Sequence[str],
                         batch_images: int = 64) -> np.ndarray:
    """P(yes) [N, Q] by the training's own prefix-cache path (fast; the scorer's path is the
    reference and agrees, see the tests)."""
    prompts = Prompts(processor, model.config.image_seq_length)
    head = model.lm_head
    pixels = pixel_values(processor, images)
    suffix = [prompts.render(QUESTION_PROMPT.format(question=q)) for q in questions]
    out = np.zeros((len(images), len(questions)))
    model.eval()
    for start in range(0, len(images), batch_images):
        layers, plen = prefix_cache(model, prompts, pixels[start:start + batch_images])
        b = len(pixels[start:start + batch_images])
        owner = torch.arange(b).repeat_interleave(len(questions))
        hidden, lengths, _ = continue_prefix(model, layers, plen, owner, suffix * b)
        logits = head(hidden[torch.arange(len(owner)), lengths - 1])
        p = torch.sigmoid(logits[:, prompts.yes] - logits[:, prompts.no])
        out[start:start + b] = p.view(b, len(questions)).double().numpy()
    return out
