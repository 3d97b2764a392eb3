"""MaKD's experiment grids: each grid changes only the field its table varies; tables have the
columns the notebooks read. Runs are faked (no training): ``get_or_train`` is replaced by a store
of :class:`FakeRun` whose metrics are a function of the config."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fgkd.experiments import makd
from fgkd.methods import MakdConfig

SMALL = {"world_classes": 4, "world_train_per_class": 4, "world_test_per_class": 2, "epochs": 2,
         "n_generate": 20, "n_select": 8, "num_aspects": 8, "scorer": "oracle", "scorer_model": "",
         "device": "cpu"}


@pytest.fixture
def recipe():
    return makd.Recipe(**SMALL)


# --- fake run store ---------------------------------------------------------------------------


class FakeRun:
    """What the grids read from a run: ``metrics``, ``meta``, ``arrays(split)``, ``done``, ``path``."""

    def __init__(self, cfg: MakdConfig):
        self.cfg = cfg
        self.path = Path("/fake") / cfg.config_hash()
        self.done = True
        # Deterministic "accuracy": MaKD helps, random targets less, fewer images hurt.
        top1 = 40.0 + 10.0 * cfg.alpha / (1.0 + cfg.alpha) - 5.0 * (cfg.targets == "random") * (cfg.alpha > 0)
        top1 += 20.0 * (cfg.train_fraction - 1.0) + cfg.seed
        self.metrics = {"top1": top1, "top5": top1 + 30, "num_parameters": 1000 + 10 * cfg.num_aspects * (cfg.alpha > 0),
                        "seconds_per_epoch": 2.0 + cfg.alpha > 0, "inference_seconds": 1.0}
        if cfg.alpha > 0:
            self.metrics["aspect_agreement"] = 80.0

    @property
    def meta(self):
        return {"classes": ["a", "b"], "questions": [f"q{i}?" for i in range(self.cfg.num_aspects)]}

    def arrays(self, split):
        return {"labels": np.arange(40) % 2}


@pytest.fixture
def fake_store(monkeypatch):
    import fgkd.runs

    trained = []

    def get_or_train(cfg):
        trained.append(cfg)
        return FakeRun(cfg)

    class Run:
        @staticmethod
        def of(cfg):
            return FakeRun(cfg)

    monkeypatch.setattr(fgkd.runs, "get_or_train", get_or_train)
    monkeypatch.setattr(fgkd.runs, "Run", Run)
    return trained


# --- recipe -----------------------------------------------------------------------------------


def test_recipe_from_takes_only_recipe_keys():
    r = makd.recipe_from({"epochs": 3, "alpha": 2.0, "datasets": "world:bird", "output_dir": "."})
    assert (r.epochs, r.alpha) == (3, 2.0)
    cfg = r.config("world:bird")
    assert cfg.epochs == 3 and cfg.alpha == 2.0 and cfg.dataset_options["num_classes"] == r.world_classes
    assert cfg.scorer_options == {"teacher": "embedded-M"} and cfg.progress is False


def test_recipe_from_reads_the_params_sets_recipe_and_the_namespace_overrides_it(tmp_path):
    import yaml

    smoke = yaml.safe_load((Path(__file__).resolve().parents[2] / "params" / "smoke" / "makd.yaml").read_text())
    assert makd.recipe_from({"params_set": "smoke"}) == makd.Recipe(**smoke)
    assert makd.recipe_from({"params_set": "smoke", "alpha": 5.0}).alpha == 5.0
    (tmp_path / "makd.yaml").write_text("epochs: 2\nnum_aspect: 8\n")
    with pytest.raises(ValueError, match=r"makd.yaml: key 'num_aspect'.*did you mean 'num_aspects'"):
        makd.recipe_from({"params_set": str(tmp_path)})


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="seeds"):
        makd.Recipe(seeds="0,0")
    with pytest.raises(ValueError, match="epochs"):
        makd.Recipe(epochs=0)
    with pytest.raises(ValueError, match="num_aspects"):
        makd.Recipe(num_aspects=60, n_select=50)
    with pytest.raises(ValueError, match="model"):
        makd.Recipe(scorer="vlm", scorer_model="")


def test_real_datasets_get_no_world_options(recipe, tmp_path):
    cfg = recipe.config("cub200")
    assert cfg.dataset_options == {} and cfg.dataset == "cub200" and cfg.data_root is None
    shared = makd.Recipe(**{**SMALL, "data_root": str(tmp_path)})
    assert shared.config("cub200").data_root == str(tmp_path / "cub200")
    assert shared.config("world:bird").data_root is None


def test_check_names():
    makd.check_names(datasets=["world:bird"], backbones=["resnet18"])
    with pytest.raises(ValueError, match="backbones"):
        makd.check_names(backbones=["resnet19"])
    with pytest.raises(ValueError, match="dataset"):
        makd.check_names(dataset=["world:fish"])


def test_split_list():
    assert makd.split_list(" 0.5, 1 ,", name="alphas", convert=float) == [0.5, 1.0]
    with pytest.raises(ValueError, match="alphas"):
        makd.split_list("a,b", name="alphas", convert=float)
    with pytest.raises(ValueError, match="counts"):
        makd.split_list(" , ", name="counts")


# --- grids: only the named field differs ------------------------------------------------------


def test_main_grid_base_differs_only_in_alpha(recipe):
    grid = makd.main_grid(recipe, ["world:bird", "world:car"], ["resnet18", "mobilenet_v1"])
    assert len(grid) == 8
    for (dataset, backbone, method), cfg in grid.items():
        assert (cfg.dataset, cfg.backbone) == (dataset, backbone)
        ours = grid[(dataset, backbone, makd.OURS)]
        if method == makd.BASE:
            assert makd.changed_fields(cfg, ours) == {"alpha"} and cfg.alpha == 0
    assert makd.changed_fields(grid[("world:bird", "resnet18", "Ours")], recipe.config("world:bird")) == set()


@pytest.mark.parametrize("grid_fn, field", [(makd.loss_grid, "aspect_loss"), (makd.target_grid, "targets")])
def test_loss_and_target_grids_change_one_field(recipe, grid_fn, field):
    cfg = recipe.config("world:bird")
    grid = grid_fn(cfg)
    assert len(grid) == 2
    values = {getattr(c, field) for c in grid.values()}
    assert len(values) == 2
    for c in grid.values():
        assert makd.changed_fields(c, cfg) <= {field}


def test_alpha_and_count_grids(recipe):
    cfg = recipe.config("world:bird")
    alphas = makd.alpha_grid(cfg, [0, 0.5, 50])
    assert sorted(alphas) == [0.0, 0.5, 50.0]
    assert all(makd.changed_fields(c, cfg) <= {"alpha"} for c in alphas.values())
    counts = makd.aspect_count_grid(cfg, [0, 2, 8])
    assert makd.changed_fields(counts[0], cfg) == {"alpha"}  # 0 aspects is the Base run
    assert makd.changed_fields(counts[2], cfg) == {"num_aspects"} and counts[2].num_aspects == 2
    assert makd.changed_fields(counts[8], cfg) == set()
    with pytest.raises(ValueError, match="n_select"):
        makd.aspect_count_grid(cfg, [9])


def test_fraction_grid(recipe):
    cfg = recipe.config("world:bird")
    grid = makd.fraction_grid(cfg, [1.0, 0.4])
    assert set(grid) == {(1.0, "Base"), (1.0, "Ours"), (0.4, "Base"), (0.4, "Ours")}
    assert makd.changed_fields(grid[(0.4, "Ours")], cfg) == {"train_fraction"}
    assert makd.changed_fields(grid[(0.4, "Base")], cfg) == {"train_fraction", "alpha"}
    with pytest.raises(ValueError, match="fraction"):
        makd.fraction_grid(cfg, [0.0])


def test_source_grid_changes_only_the_source(recipe):
    cfg = recipe.config("world:bird")
    grid = makd.source_grid(cfg, [
        makd.question_source("L: seed 1", "template", seed=1),
        makd.scorer_source("M: noisier", "oracle", oracle_noise=3.0),
    ])
    assert makd.changed_fields(grid["L: seed 1"], cfg) == {"llm_options"}
    assert grid["L: seed 1"].llm_options == {"seed": 1}
    assert makd.changed_fields(grid["M: noisier"], cfg) == {"scorer_options"}
    openai = makd.source_grid(cfg, [makd.question_source("L: GPT-3.5", "openai", model="gpt-3.5-turbo")])
    assert openai["L: GPT-3.5"].llm_options == {"model": "gpt-3.5-turbo"}
    assert openai["L: GPT-3.5"].llm_style is None
    with pytest.raises(ValueError, match="labelled"):
        makd.source_grid(cfg, [makd.scorer_source("x", "oracle"), makd.scorer_source("x", "oracle")])


def test_ablation_grids_keys(recipe):
    grid = makd.ablation_grids(recipe, "world:bird", ["resnet18"], [0, 10], [makd.scorer_source("oracle", "oracle")])
    assert set(grid) == {("resnet18", "base", "Base"), ("resnet18", "base", "Ours"), ("resnet18", "a", "BCE"),
                         ("resnet18", "a", "KL"), ("resnet18", "b", "real"), ("resnet18", "b", "random"),
                         ("resnet18", "c", 0.0), ("resnet18", "c", 10.0), ("resnet18", "d", "oracle")}
    # Shared runs are the same config, hence trained once.
    assert grid[("resnet18", "c", 0.0)] == grid[("resnet18", "base", "Base")]
    assert grid[("resnet18", "a", "BCE")] == grid[("resnet18", "base", "Ours")]


def test_kd_grid(recipe):
    cfg = recipe.config("world:bird")
    grid = makd.kd_grid(cfg, teacher_backbone="resnet34", mllm_teacher="embedded-M", mllm_kd_weight=2.0)
    assert set(grid) == {"Base", "Ours", "MLLM KD", "KD teacher", "KD", "KD + Ours"}
    assert grid["KD teacher"] == grid["KD"].teacher_config()
    assert makd.changed_fields(grid["MLLM KD"], grid["Base"]) == {"mllm_kd_weight", "mllm_teacher"}
    assert makd.changed_fields(grid["KD"], grid["Base"]) == {"kd_teacher"}
    assert makd.changed_fields(grid["KD + Ours"], grid["Ours"]) == {"kd_teacher"}
    teacher = grid["KD"].teacher_config()
    assert teacher.backbone == "resnet34" and teacher.alpha == 0
    assert makd.changed_fields(teacher, grid["Base"]) == {"backbone"}
    # The teacher follows the student's seed.
    assert makd.with_seed(grid["KD"], 3).teacher_config().seed == 3
    assert set(makd.kd_grid(cfg, has_zero_shot=False)) == {"Base", "Ours"}


# --- tables ------------------------------------------------------------------------------------


def test_run_table_and_gap_table(recipe, fake_store):
    grid = makd.main_grid(recipe, ["world:bird"], ["resnet18"])
    runs = makd.run_table(grid, ("dataset", "backbone", "method"), seeds=[0, 1], log=None)
    assert len(fake_store) == 4  # 2 configs x 2 seeds
    assert list(runs.index.names) == ["dataset", "backbone", "method"]
    assert {"top1", "top1 sd", "top1 per seed", "top5", "seeds", "n_test", "aspect_agreement"} <= set(runs.columns)
    ours = ("world:bird", "resnet18", "Ours")
    assert runs.loc[ours, "top1"] == pytest.approx(45.5)  # mean of seeds 0, 1
    assert runs.loc[ours, "top1 per seed"] == pytest.approx((45.0, 46.0)) and runs.loc[ours, "seeds"] == (0, 1)
    assert runs.loc[ours, "top1 sd"] == pytest.approx(np.std([45.0, 46.0], ddof=1))
    assert math.isnan(runs.loc[("world:bird", "resnet18", "Base"), "aspect_agreement"])
    gaps = makd.gap_table(runs)
    assert list(gaps.columns)[:4] == ["Base", "Ours", "Gap", "Gap sd"]
    assert gaps.loc[("world:bird", "resnet18"), "Gap"] == pytest.approx(5.0)
    assert gaps.loc[("world:bird", "resnet18"), "Gap per seed"] == pytest.approx((5.0, 5.0))  # paired by seed
    assert set(makd.long_format(gaps)["metric"]) == {"Gap", "Base", "Ours"}


def test_main_table_with_oracle_has_nan_mllm(recipe, fake_store):
    table = makd.main_table(recipe, ["world:bird"], ["resnet18"], log=None)
    assert list(table.index.names) == ["dataset", "paper dataset", "backbone"]
    assert table.index[0] == ("world:bird", "cub200", "resnet18")
    assert list(table.columns)[:5] == ["Base", "Ours", "Gap", "Gap sd", "MLLM"]
    assert math.isnan(table["MLLM"].iloc[0])  # the oracle is not a model: no zero-shot row
    paper = makd.align_paper(table, makd.paper_main(["cub200"], ["resnet18"]))
    assert paper.loc[("world:bird", "cub200", "resnet18"), "Ours"] == pytest.approx(60.07)


def test_a_gap_is_read_only_beside_a_base_trained_well_above_chance(recipe, fake_store):
    import dataclasses

    table = makd.main_table(dataclasses.replace(recipe, seeds="0,1,2"), ["world:bird"], ["resnet18"],
                            log=None)  # fake Base: 40 + seed
    base = table.iloc[0]["Base per seed"]
    assert len(base) == 3
    low, high = makd.trained_verdicts(table, {"world:bird": 5.0}), makd.trained_verdicts(table, {"world:bird": 20.0})
    assert len(low) == 1 and low[0].claim.startswith("Base is trained above 3x chance (world:bird, resnet18")
    assert low[0].values == pytest.approx(tuple(b - 15.0 for b in base)) and low[0].holds
    assert high[0].status == "contradicted" and "the bar is 60.00 %" in str(high[0])
    assert makd.chance_top1(recipe.config("world:bird")) == pytest.approx(100.0 / recipe.world_classes)


def test_ablation_table_curve_and_verdicts(recipe, fake_store):
    grid = makd.ablation_grids(recipe, "world:bird", ["resnet18"], [0, 1, 50])
    runs = makd.run_table(grid, ("backbone", "part", "setting"), [0, 1, 2], log=None).loc["resnet18"]
    curve = makd.alpha_curve(runs)
    assert list(curve.index) == [0.0, 1.0, 50.0] and list(curve.columns) == ["top1", "top1 sd", "top1 per seed"]
    drop = makd.alpha_drop(curve)
    assert drop.status == "contradicted"  # the fake accuracy rises with alpha: no drop
    real = makd.beats(runs.xs("b", level="part"), "real", "random", "real targets beat random ones")
    assert real.holds and real.kit == pytest.approx(5.0) and real.values == (5.0, 5.0, 5.0)
    assert str(real).startswith("real targets beat random ones: holds (+5.00 points, 95 % CI [+5.00, +5.00] over 3 seeds")


def test_fraction_table(recipe, fake_store):
    runs = makd.run_table(makd.fraction_grid(recipe.config("world:bird"), [1.0, 0.5]), ("fraction", "method"), log=None)
    gaps = makd.gap_table(runs)
    assert list(gaps.index) == [1.0, 0.5]
    assert gaps.loc[0.5, "Base"] == pytest.approx(30.0)


def test_verdict_text_and_record():
    v = makd.Verdict("MaKD beats Base", (-0.5, 1.0, 0.5), paper=5.85)
    assert v.status == "inconclusive" and not v.holds
    low, high = v.interval.low, v.interval.high
    assert str(v) == f"MaKD beats Base: inconclusive (+0.33 points, 95 % CI [{low:+.2f}, {high:+.2f}] over 3 seeds; paper +5.85)."
    record = v.record()
    assert record["status"] == "inconclusive" and record["n_seeds"] == 3 and record["per_seed"] == [-0.5, 1.0, 0.5]
    assert record["ci_low"] == pytest.approx(low) and record["mean_diff"] == pytest.approx(1 / 3)
    assert makd.trend([10, 20, 30], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    rising = pd.DataFrame({"top1 per seed": [(40.0, 41.0), (42.0, 43.0), (45.0, 44.5)]}, index=[0, 10, 50])
    assert makd.trend_verdict("accuracy rises with Q", rising).values == (1.0, 1.0)


def test_cost_tables(recipe):
    runs = {"Base": FakeRun(recipe.config("world:bird", alpha=0.0)), "Ours": FakeRun(recipe.config("world:bird"))}
    table = makd.cost_table(runs)
    assert list(table.columns) == ["params (M)", "train s/epoch", "inference s"]
    assert table.loc["Ours", "params (M)"] > table.loc["Base", "params (M)"]
    paper = makd.paper_cost()
    assert paper.loc["Ours", "train s/epoch"] == pytest.approx(27.90)
    assert makd.overhead(paper)["params (M)"] == pytest.approx(100 * (11.25 / 11.23 - 1))


# --- aspect analyses ----------------------------------------------------------------------------


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    scorer = 0.5 + rng.uniform(-0.02, 0.02, (30, 4))
    scorer[:, 0] = np.where(labels == 0, 0.9, 0.1)  # question 0 separates class 0
    scorer[:, 1] = np.where(labels == 1, 0.8, 0.2)  # question 1 separates class 1
    student = np.clip(scorer + rng.normal(0, 0.02, scorer.shape), 0.01, 0.99)
    return makd.AspectArrays(questions=[f"q{i}?" for i in range(4)], classes=["x", "y", "z"], labels=labels,
                             student=student, scorer=scorer)


def test_class_means_and_agreement(arrays):
    means = makd.class_means(arrays)
    assert means.shape == (3, 4) and list(means.columns) == arrays.questions
    assert means.loc["x", "q0?"] == pytest.approx(0.9) and means.loc["y", "q0?"] == pytest.approx(0.1)
    agreement = makd.question_agreement(arrays)
    assert list(agreement.columns) == ["scorer std", "student-scorer r", "mean |P_student - P_scorer|",
                                       "class share of scorer variance"]
    assert agreement.loc["q0?", "class share of scorer variance"] == pytest.approx(1.0)
    assert agreement.loc[["q0?", "q1?"], "student-scorer r"].min() > 0.9
    with pytest.raises(ValueError, match="source"):
        makd.class_means(arrays, "mllm")


def test_examples_and_overlap(arrays):
    images, questions = makd.pick_aspect_examples(arrays, num_images=2, num_questions=2)
    assert len(set(arrays.labels[images])) == 2 and len(questions) == 2
    assert questions[0] in (0, 1)  # a class-separating question varies most across the images
    table = makd.image_examples(arrays, images, questions)
    assert list(table.index.names) == ["image", "class", "question"]
    assert list(table.columns) == ["student P(yes)", "scorer P(yes)"] and len(table) == 4
    assert makd.neighbour_overlap(arrays.scorer, arrays.scorer, k=5) == pytest.approx(1.0)
    assert makd.neighbour_overlap(arrays.student, arrays.scorer, k=5) > 5 / 29


@pytest.mark.slow  # importing sklearn.manifold alone takes seconds on a busy machine
def test_tsne_is_seeded_and_cached(arrays):
    from fgkd.paths import cache_dir

    a = makd.tsne(arrays, perplexity=5, seed=1)
    assert a["student"].shape == a["scorer"].shape == (30, 2)
    cached = sorted(cache_dir("tsne").glob("makd-*.npz"))
    assert len(cached) == 2
    for path in cached:
        path.unlink()
    b = makd.tsne(arrays, perplexity=5, seed=1)  # recomputed: the seed alone fixes the map
    assert np.array_equal(a["scorer"], b["scorer"]) and np.array_equal(a["student"], b["student"])
    np.savez(cached[0], xy=np.zeros((30, 2)))  # a cached map is read back, not recomputed
    c = makd.tsne(arrays, perplexity=5, seed=1)
    assert sum(not np.any(v) for v in c.values()) == 1
    assert not np.array_equal(makd.tsne(arrays, perplexity=8, seed=1)["scorer"], a["scorer"])  # its own entry


def test_ablation_views_and_verdicts(recipe, fake_store):
    sources = [makd.question_source("L: seed 1", "template", seed=1), makd.oracle_source(0.5)]
    grid = makd.ablation_grids(recipe, "world:bird", ["resnet18", "mobilenet_v1"], [0, 1, 10, 50], sources)
    runs = makd.run_table(grid, ("backbone", "part", "setting"), log=None)
    views = makd.ablation_views(runs)
    assert set(views) == {"a", "b", "c", "d"}
    assert list(views["a"].columns) == ["Base", "BCE", "KL"]
    assert list(views["b"].columns) == ["Base", "real", "random"]
    assert list(views["c"].columns) == ["alpha=0", "alpha=1", "alpha=10", "alpha=50"]
    assert list(views["d"].columns) == ["Base", "L: seed 1", "upper bound: oracle"]
    assert list(views["a"].index) == ["resnet18", "mobilenet_v1"]
    verdicts = makd.ablation_verdicts(runs.loc["resnet18"], sources)
    claims = [v.claim for v in verdicts]
    assert claims[0] == "MaKD beats Base" and any("alpha = 50" in c for c in claims)
    assert any("headroom" in c and "upper bound" in c for c in claims)
    assert makd.summary(verdicts).startswith("0 of 6 claims hold, 0 contradicted, 6 inconclusive")  # one seed


def test_truth_quality_scores_targets_against_the_world(recipe):
    """A scorer equal to the world's truth gets AUC 1; its complement AUC 0 (tiny real world)."""
    from fgkd.scorers.oracle import ground_truth
    from fgkd.data.splits import load_split
    from fgkd.methods.makd import aspect_questions

    cfg = recipe.config("world:bird")
    questions = aspect_questions(cfg, load_split(cfg, "train"))[: cfg.num_aspects]
    test = load_split(cfg, "test")
    truth = ground_truth(test, questions)
    run = FakeRun(cfg)
    arrays = makd.AspectArrays(questions=[q.text for q in questions], classes=list(test.classes),
                               labels=np.asarray(test.targets), student=1.0 - truth, scorer=truth)
    quality = makd.truth_quality(run, arrays)
    assert list(quality.columns) == ["base rate", "scorer AUC", "student AUC"]
    defined = quality.dropna()
    assert len(defined) > 0
    assert (defined["scorer AUC"] == 1.0).all() and (defined["student AUC"] == 0.0).all()
    assert np.allclose(quality["base rate"], truth.mean(0))
    with pytest.raises(ValueError, match="world"):
        makd.truth_quality(FakeRun(recipe.config("cub200")), arrays)


def test_trend_is_spearman():
    assert makd.trend([1, 2, 3, 4], [10.0, 20.0, 15.0, 30.0]) == pytest.approx(0.8)
    assert makd.trend([1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert math.isnan(makd.trend([1, 2], [1.0, 2.0]))


def test_embedded_teachers_are_the_clip_scorers_only():
    from fgkd.teachers.clip import DEFAULT_SCORER_TEACHER

    assert makd.embedded_teachers({"scorer": "clip", "scorer_model": "", "alt_scorer": "clip",
                                   "alt_scorer_model": "embedded-S"}) == [(DEFAULT_SCORER_TEACHER, {}), ("embedded-S", {})]
    assert makd.embedded_teachers({"scorer": "clip", "scorer_model": "embedded-M", "alt_scorer": "clip",
                                   "alt_scorer_model": "embedded-M"}) == [("embedded-M", {})]
    assert makd.embedded_teachers({"scorer": "oracle", "alt_scorer": "vlm", "alt_scorer_model": "x/y"}) == []
    assert makd.embedded_teachers({"scorer": "clip", "scorer_model": "ViT-B-16/openai"}) == []
