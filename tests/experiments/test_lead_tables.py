"""LEAD's table helpers that evaluate models which are no run (the students' initialisation)."""

import torch

import train_fakes
from fgkd.experiments.lead import init_table, metrics_row


def test_init_table_evaluates_the_untrained_student_as_a_run_is_evaluated():
    moco = train_fakes.lead_config("moco")
    grid = {("Blobs", "MoCo v2"): moco, ("Blobs", "LEAD"): train_fakes.lead_config("lead")}
    table = init_table(grid, [0, 1])
    assert list(table.index) == ["Blobs"]  # one row per benchmark, from the MoCo v2 arm only
    expected = []
    for seed in (0, 1):
        method = train_fakes.make_method(moco.replace(seed=seed))
        method.build(torch.device("cpu"), for_training=False)
        expected.append(metrics_row(None, method.evaluate(method.extract), moco)["Top-1"])
    assert abs(table.loc["Blobs", "Top-1"] - sum(expected) / 2) < 1e-9
    assert {"Top-1 sd", "mAP", "mAP sd"} <= set(table.columns)
