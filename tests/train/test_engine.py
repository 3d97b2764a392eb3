import random

import numpy as np
import pytest
import torch

from train_fakes import lead_config, makd_config

from train_fakes import make_method
from fgkd.train.engine import (
    CHECKPOINT,
    IndexedDataset,
    derive_seed,
    has_depthwise_conv,
    make_loader,
    rng_state,
    set_rng_state,
    to_device,
    train,
)
from fgkd.train import ddp


class Killed(Exception):
    """Stands in for the process dying right after a checkpoint was written."""


def _kill_after_first_epoch(epoch, record):
    if epoch == 0:
        raise Killed


def _scramble_global_rng():
    # A restarted process starts from unrelated RNG states; the checkpoint must restore them.
    torch.manual_seed(987654)
    np.random.seed(4321)
    random.seed(1234)


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _losses(history):
    return [{k: v for k, v in h.items() if k not in ("seconds", "images_per_second")} for h in history]


def test_resume_after_a_kill_gives_the_same_weights_lead_online(tmp_path, llm_files, teacher):
    """LEAD with the online teacher: queue, key encoder, augmentations and the teacher's views."""
    cfg = lead_config(llm_options=llm_files, epochs=2)
    straight = make_method(cfg, teacher=teacher)
    full = train(straight, tmp_path / "straight")

    with pytest.raises(Killed):
        train(make_method(cfg, teacher=teacher), tmp_path / "resumed", on_epoch_end=_kill_after_first_epoch)
    assert (tmp_path / "resumed" / CHECKPOINT).exists()
    _scramble_global_rng()
    resumed = make_method(cfg, teacher=teacher)
    result = train(resumed, tmp_path / "resumed")

    assert result.resumed_from_epoch == 1
    _assert_same_weights(straight.module, resumed.module)
    assert _losses(result.history) == _losses(full.history)


def test_resume_gives_the_same_weights_makd(tmp_path, llm_files, fake_scorer):
    cfg = makd_config(llm_options=llm_files, epochs=3)
    straight = make_method(cfg)
    train(straight, tmp_path / "straight")
    with pytest.raises(Killed):
        train(make_method(cfg), tmp_path / "resumed", on_epoch_end=_kill_after_first_epoch)
    _scramble_global_rng()
    resumed = make_method(cfg)
    train(resumed, tmp_path / "resumed")
    _assert_same_weights(straight.module, resumed.module)


def test_runs_are_deterministic_and_seed_dependent(tmp_path, llm_files, fake_scorer):
    a, b, c = (make_method(makd_config(llm_options=llm_files, seed=s)) for s in (0, 0, 1))
    for i, m in enumerate((a, b, c)):
        train(m, tmp_path / str(i))
    _assert_same_weights(a.module, b.module)
    assert not torch.equal(a.module.head.weight, c.module.head.weight)


def test_checkpoint_of_another_config_is_refused(tmp_path, llm_files, fake_scorer):
    cfg = makd_config(llm_options=llm_files, epochs=2)
    with pytest.raises(Killed):
        train(make_method(cfg), tmp_path, on_epoch_end=_kill_after_first_epoch)
    with pytest.raises(ValueError, match="belongs to config"):
        train(make_method(cfg.replace(lr=0.5)), tmp_path)


def test_too_few_images_for_one_batch_is_a_clear_error(tmp_path):
    cfg = lead_config(method="moco", batch_size=64, queue_size=64)
    with pytest.raises(ValueError, match="fewer than one batch"):
        train(make_method(cfg), tmp_path)


def test_loader_order_depends_only_on_seed_and_epoch():
    method = make_method(lead_config(method="moco"))
    method.build(torch.device("cpu"))
    info = ddp.current()

    def order(epoch):
        _scramble_global_rng()
        return torch.cat([b[-1] for b in make_loader(method, epoch, info)]).tolist()

    assert order(0) == order(0)
    assert order(0) != order(1)
    assert sorted(order(1)) == list(range(32))  # one pass over the 32 images (batches of 8, none dropped)


def test_rng_state_round_trip_and_derive_seed():
    state = rng_state()
    draws = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1]) and draws[2] == again[2]
    assert derive_seed(0, "epoch", 1) == derive_seed(0, "epoch", 1) != derive_seed(0, "epoch", 2)
    assert 0 <= derive_seed("x") < 2**63


def test_indexed_dataset_and_to_device():
    data = IndexedDataset([(torch.zeros(3, 4, 4), 1), (torch.ones(3, 4, 4), 0)])
    assert data[1][1:] == (0, 1) and len(data) == 2
    batch = to_device([(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)), torch.tensor([1, 2])],
                      torch.device("cpu"), channels_last=True)
    assert batch[0][0].is_contiguous(memory_format=torch.channels_last)
    assert batch[1].dtype == torch.long


def test_history_records_loss_terms_lr_and_throughput(tmp_path, llm_files, teacher):
    result = train(make_method(lead_config(llm_options=llm_files), teacher=teacher), tmp_path)
    first, second = result.history
    assert {"loss", "contrastive", "kd", "entropy", "w_cl", "w_kd", "lr", "seconds", "images_per_second"} <= set(first)
    assert first["lr"] == pytest.approx(0.03) and second["lr"] == pytest.approx(0.015)  # cosine over 2 epochs
    assert result.images_per_second > 0


@pytest.mark.parametrize("name, depthwise", [("resnet18", False), ("resnet34", False),
                                             ("mobilenet_v1", True), ("efficientnet_b0", True)])
def test_cpu_channels_last_is_chosen_for_depthwise_backbones_only(name, depthwise):
    from fgkd.models.backbones import get_backbone

    backbone, _ = get_backbone(name)
    assert has_depthwise_conv(backbone) is depthwise
    # A grouped but not depthwise convolution (groups < in_channels) does not count.
    assert not has_depthwise_conv(torch.nn.Conv2d(8, 8, 3, groups=2))
