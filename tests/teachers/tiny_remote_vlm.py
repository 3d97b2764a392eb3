"""A tiny InternVL2-style remote-code VLM written offline: its own configuration and modeling files,
registered through ``auto_map`` (``AutoConfig`` / ``AutoModel``), as OpenGVLab/InternVL2-8B ships.

The model has the interface fgkd's remote-code scorer reads: ``extract_feature(pixel_values)``,
``language_model`` (a tiny Llama), ``num_image_token``, ``img_context_token_id``, ``system_message``;
the tokenizer has InternVL's ``<img>``, ``</img>``, ``<IMG_CONTEXT>`` and the ``<|im_start|>`` turns.
"""

from __future__ import annotations

import sys
from pathlib import Path

CONFIGURATION = '''
from transformers import PretrainedConfig


class TinyInternVLChatConfig(PretrainedConfig):
    model_type = "tiny_internvl_chat"

    def __init__(self, llm_config=None, vision_hidden=16, force_image_size=32, patch=8, **kwargs):
        super().__init__(**kwargs)
        self.llm_config = llm_config or {}
        self.vision_hidden = vision_hidden
        self.force_image_size = force_image_size
        self.patch = patch
'''

MODELING = '''
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel

from .configuration_tiny_internvl import TinyInternVLChatConfig


class TinyInternVLChatModel(PreTrainedModel):
    config_class = TinyInternVLChatConfig
    _no_split_modules = []

    def __init__(self, config):
        super().__init__(config)
        text = LlamaConfig(**config.llm_config)
        self.vision = nn.Conv2d(3, config.vision_hidden, config.patch, config.patch)
        self.mlp1 = nn.Linear(config.vision_hidden, text.hidden_size)
        self.language_model = LlamaForCausalLM(text)
        self.num_image_token = (config.force_image_size // config.patch) ** 2
        self.img_context_token_id = None
        self.system_message = "You are a tiny test assistant."
        self.post_init()

    def extract_feature(self, pixel_values):
        x = self.vision(pixel_values).flatten(2).transpose(1, 2)  # [N, tokens, vision_hidden]
        return self.mlp1(torch.tanh(x))
'''


def save_tiny_remote_vlm(folder: str | Path, seed: int = 0) -> Path:
    """Write the remote-code model (weights, config with auto_map, its .py files) and its tokenizer."""
    import importlib
    import shutil

    import torch

    folder = Path(folder)
    source = folder.parent / f"{folder.name}_src" / "tiny_internvl_pkg"
    source.mkdir(parents=True, exist_ok=True)
    (source / "__init__.py").write_text("")
    (source / "configuration_tiny_internvl.py").write_text(CONFIGURATION)
    (source / "modeling_tiny_internvl.py").write_text(MODELING)
    sys.path.insert(0, str(source.parent))
    try:
        configuration = importlib.import_module("tiny_internvl_pkg.configuration_tiny_internvl")
        modeling = importlib.import_module("tiny_internvl_pkg.modeling_tiny_internvl")
        configuration.TinyInternVLChatConfig.register_for_auto_class()
        modeling.TinyInternVLChatModel.register_for_auto_class("AutoModel")
        sys.path.insert(0, str(Path(__file__).parent))
        from tiny_vlm import build_tokenizer

        tokenizer = build_tokenizer()
        tokenizer.add_special_tokens({"additional_special_tokens": ["<img>", "</img>", "<IMG_CONTEXT>",
                                                                    "<|im_start|>", "<|im_end|>"]})
        config = configuration.TinyInternVLChatConfig(llm_config={
            "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
            "initializer_range": 0.2, "pad_token_id": tokenizer.pad_token_id})
        torch.manual_seed(seed)
        model = modeling.TinyInternVLChatModel(config).eval()
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    finally:
        sys.path.remove(str(source.parent))
        for name in [m for m in sys.modules if m.startswith("tiny_internvl_pkg")]:
            del sys.modules[name]
    shutil.rmtree(source.parent)
    return folder
