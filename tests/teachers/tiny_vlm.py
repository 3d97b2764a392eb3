"""A tiny, randomly initialised LLaVA-style VLM built offline, for tests and the benchmark.

It is a real ``LlavaForConditionalGeneration`` (tiny CLIP vision tower + tiny Llama), a real byte-level
BPE tokenizer trained in memory on a few sentences (so " yes" and "yes" are different tokens, as in
Llama-3 / Qwen tokenizers) wrapped as ``PreTrainedTokenizerFast``, and a real ``LlavaProcessor`` with a
``CLIPImageProcessor`` and a chat template. ``save_tiny_vlm(folder)`` writes it with
``save_pretrained`` so callers load it back through ``AutoProcessor`` /
``AutoModelForImageTextToText`` exactly like a downloaded checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VlmSize:
    """Shape of the random VLM: image side / patch side, then widths and depths of both towers."""

    image_size: int  # pixels; (image_size // patch_size) ** 2 image tokens reach the language model
    patch_size: int
    vision_hidden: int
    vision_layers: int
    text_hidden: int
    text_layers: int
    heads: int
    # real models' shapes (None: the tiny defaults: MLP 2x wide, half as many KV heads)
    vision_heads: int | None = None
    vision_mlp: int | None = None
    text_heads: int | None = None
    kv_heads: int | None = None
    text_mlp: int | None = None


SIZES = {
    # for tests: 16 image tokens, 2 + 2 layers of width 32
    "tiny": VlmSize(
        image_size=32, patch_size=8, vision_hidden=32, vision_layers=2, text_hidden=32, text_layers=2, heads=4
    ),
    # for the benchmark: LLaVA-1.5's token layout at 224 px (256 image tokens), narrow and shallow
    "small": VlmSize(
        image_size=224, patch_size=14, vision_hidden=256, vision_layers=4, text_hidden=512, text_layers=6, heads=8
    ),
    # InternVL3-8B-hf's sizes in LLaVA's layout, for benchmarks/gpu_check.py: a 300M ViT at 448 px
    # (1024 image tokens) and a Qwen2.5-7B-sized language model (28 layers, 3584 wide, GQA 28/4
    # heads, MLP 18944): about 8 B parameters, 16 GB in bf16
    "internvl3-8b": VlmSize(
        image_size=448, patch_size=14, vision_hidden=1024, vision_layers=24, text_hidden=3584, text_layers=28,
        heads=16, vision_heads=16, vision_mlp=4096, text_heads=28, kv_heads=4, text_mlp=18944,
    ),
}
NUM_IMAGE_TOKENS = (SIZES["tiny"].image_size // SIZES["tiny"].patch_size) ** 2

# A LLaVA-1.5-like template ("USER: <image>\n{text} ASSISTANT:"), the embedded MLLM's too.
from fgkd.teachers.llava import CHAT_TEMPLATE  # noqa: E402

_CORPUS = [
    "yes", "Yes", "no", "No",  # answers at the start of a word, without the leading space
    "USER: ASSISTANT: yes no Yes No yes. no. Yes, No, Answer with yes or no. Answer yes or no.",
    "Is the bird red? Yes. Does the car have two doors? No. Is there a tree? yes no",
    "What is the bird in the image? What is the car in the image? Answer with its name.",
    "red blue green yellow wings body tail beak striped spotted forest sky road engine engines",
    "Red Cardinal, Blue Jay, Green Heron, Yellow Warbler, Sports Coupe, Pickup Truck, Jet Airliner",
]


def build_tokenizer():
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ``<s>``, ``</s>``, ``<pad>``, ``<image>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<image>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    bos = tok.token_to_id("<s>")
    # Llama-style: BOS in front of every encoded sequence.
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )


def build_tiny_vlm(seed: int = 0, init_std: float = 0.2, size: str = "tiny", device: str | None = None,
                   dtype=None):
    """Return ``(model, processor)``: a random LLaVA of the given ``SIZES`` entry, eval mode.

    ``init_std`` is larger than the usual 0.02 so that a random model's yes/no logits differ clearly
    between images and questions (tests comparing two code paths then have something to compare).
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    shape = SIZES[size]
    tokenizer = build_tokenizer()
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": shape.image_size},
        crop_size={"height": shape.image_size, "width": shape.image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=shape.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, dropped by the "default" strategy
        chat_template=CHAT_TEMPLATE,
    )
    vision = CLIPVisionConfig(
        hidden_size=shape.vision_hidden,
        intermediate_size=shape.vision_mlp or 2 * shape.vision_hidden,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=shape.vision_heads or shape.heads,
        image_size=shape.image_size,
        patch_size=shape.patch_size,
        projection_dim=shape.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.text_hidden,
        intermediate_size=shape.text_mlp or 2 * shape.text_hidden,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=shape.text_heads or shape.heads,
        num_key_value_heads=shape.kv_heads or shape.heads // 2,
        max_position_embeddings=max(1024, 2 * (shape.image_size // shape.patch_size) ** 2),
        initializer_range=init_std,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(shape.image_size // shape.patch_size) ** 2,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    # built where it will run, in its dtype: an 8 B model never passes through host memory in fp32
    previous = torch.get_default_dtype()
    try:
        if dtype is not None:
            torch.set_default_dtype(dtype)
        with torch.device(device or "cpu"):
            model = LlavaForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(previous)
    return model, processor


def save_tiny_vlm(folder: str | Path, seed: int = 0, size: str = "tiny") -> Path:
    """Build the random VLM and ``save_pretrained`` model + processor into ``folder``; return it."""
    folder = Path(folder)
    model, processor = build_tiny_vlm(seed=seed, size=size)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
