"""LEAD's table helpers that evaluate models which are no run (the students' initialisation)."""

import torch

import train_fakes
from fgkd.experiments.lead import init_table, metrics_row
from fgkd.experiments.lead.tables import evaluate_untrained


def test_init_table_evaluates_the_untrained_student_as_a_run_is_evaluated():
    moco = train_fakes.lead_config("moco")
    grid = {("Blobs", "MoCo v2"): moco, ("Blobs", "LEAD"): train_fakes.lead_config("lead")}
    torch.manual_seed(123)  # the global generator's state must not matter
    table = init_table(grid, [0, 1])
    assert list(table.index) == ["Blobs"]  # one row per benchmark, from the MoCo v2 arm only
    expected = [metrics_row(None, evaluate_untrained(moco.replace(seed=s)), moco)["Top-1"] for s in (0, 1)]
    assert abs(table.loc["Blobs", "Top-1"] - sum(expected) / 2) < 1e-9
    assert {"Top-1 sd", "mAP", "mAP sd"} <= set(table.columns)
    assert table.equals(init_table(grid, [0, 1]))  # deterministic


def test_the_untrained_model_is_the_one_a_run_starts_from():
    """The evaluated model's weights are the engine's initial weights: the engine seeds, then builds
    for training (fgkd.train.engine); evaluate_untrained seeds, then builds for evaluation."""
    from fgkd.methods import make_method
    from fgkd.train.engine import seed_everything

    moco = train_fakes.lead_config("moco")
    seed_everything(moco.seed)
    method = make_method(moco)
    method.build(torch.device("cpu"), for_training=True)
    torch.manual_seed(7)
    again = make_method(moco)
    seed_everything(moco.seed)
    again.build(torch.device("cpu"), for_training=False)
    for a, b in zip(method.module.state_dict().values(), again.module.state_dict().values()):
        assert torch.equal(a, b)
