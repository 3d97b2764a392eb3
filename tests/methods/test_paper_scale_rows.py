"""Table 5's rows at the paper scale, trained on tiny fakes: SimCLR on the recipe's ResNet50 and
the iBOT baseline on iBOT's ViT-S/16."""

import pytest
import torch
from train_fakes import lead_config

from fgkd.experiments.lead import describe_method, method_grid
from fgkd.models.ibot import VITS
from fgkd.runs import get_or_train


@pytest.mark.slow
def test_simclr_on_resnet50_and_ibot_on_vit_s16_train_and_evaluate():
    base = lead_config(backbone="resnet50", image_size=32, epochs=1, batch_size=8, probe_epochs=2)
    grid = method_grid(base, ["simclr", "ibot"], ibot_vit="vit_small_16")
    simclr, ibot = grid["SimCLR"], grid["iBOT"]
    assert simclr.backbone == "resnet50" and ibot.vit == "vit_small_16"
    for cfg in (simclr, ibot):
        run = get_or_train(cfg)
        assert run.done and 0 <= run.metrics["top1"] <= 100
    vit = get_or_train(ibot).model()
    blocks = vit.backbone.blocks.layers
    assert len(blocks) == 12 and blocks[0].self_attn.embed_dim == 384 and blocks[0].self_attn.num_heads == 6
    assert vit.backbone.patch_embed.kernel_size == (16, 16)  # 16 px patches: (32 / 16)^2 = 4 patches here
    features = get_or_train(simclr).model().encode(torch.zeros(2, 3, 32, 32))
    assert features.shape == (2, 2048)  # ResNet50's pooled features
    assert describe_method(ibot).startswith("iBOT-style: ViT-S/16, 12 blocks, 384 wide, 16 px patches")
    assert describe_method(simclr) == "SimCLR: resnet50"


def test_the_ibot_vit_is_checked_against_the_image_size():
    from fgkd.config import ConfigError

    base = lead_config(image_size=24)
    with pytest.raises(ConfigError, match="multiple of the vit_small_16 ViT's patch size 16"):
        method_grid(base, ["ibot"], ibot_vit="vit_small_16")
    with pytest.raises(ConfigError, match="choose one of"):
        method_grid(base, ["ibot"], ibot_vit="vit_huge")
    assert set(VITS) == {"tiny", "vit_small_16"}
    assert "vit" not in method_grid(lead_config(image_size=32), ["ibot"])["iBOT"].hash_dict()  # old keys kept
