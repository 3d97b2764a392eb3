"""LEAD's experiment grids: each grid changes only the field its table varies, the base run of every
LEAD notebook has one config hash, tables have the columns the notebooks read, verdicts say what the
numbers say. Runs are faked (``get_or_train`` replaced by :class:`FakeRun`), except one tiny real
LEAD run for Figure 5's teacher/student quantities."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fgkd.experiments import lead
from fgkd.reproduce.manifest import load_manifest
from fgkd.reproduce.params import notebook_parameters
from fgkd.reference import LEAD_METRICS
from fgkd.methods import LeadConfig
from fgkd.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = [REPO / "notebooks" / f"{e.name}.ipynb" for e in load_manifest().entries.values() if e.paper == "lead"]
SMALL = dict(world_classes=4, world_train_per_class=8, image_size=32, backbone="resnet18", pretrained=False,
             epochs=1, batch_size=16, queue_size=64, teacher="embedded-M", teacher_mode="cached", llm="template",
             llm_style="a", probe_epochs=2, device="cpu", num_workers=0)


@pytest.fixture
def recipe():
    return lead.Recipe(**SMALL)


@pytest.fixture
def base(recipe):
    return recipe.config("world:bird")


# --- fake run store ---------------------------------------------------------------------------


class FakeRun:
    """What the tables read from a run: ``metrics``, ``done``, ``arrays(split)``."""

    def __init__(self, cfg: LeadConfig):
        self.cfg = cfg
        self.done = True
        # A deterministic "accuracy": LEAD helps, removed words and short descriptions hurt.
        # (MoCo v2's config has no description fields: it reads no descriptions)
        top1 = (40.0 + 10.0 * (cfg.method == "lead") - 10.0 * getattr(cfg, "word_removal", 0.0)
                + 0.05 * getattr(cfg, "max_words", 70))
        top1 += 0.01 * cfg.dataset_options.get("train_per_class", 30) + 0.25 * cfg.seed  # seeds differ a little
        self.metrics = {"top1": top1, "top5": top1 + 30, "R-1": top1 - 5, "R-5": top1 + 10, "mAP": top1 / 2,
                        "train_seconds": 1.5}

    def arrays(self, split):
        rng = np.random.default_rng(0)
        labels = np.arange(60) % 3
        spread = 0.2 if self.cfg.method == "lead" else 2.0  # LEAD's classes are tighter
        return {"features": np.eye(8)[labels] * 3 + spread * rng.normal(size=(60, 8)), "labels": labels}


@pytest.fixture
def fake_store(monkeypatch):
    import fgkd.runs

    trained = []

    def get_or_train(cfg, **options):
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


def test_recipe_defaults_are_the_papers():
    """Recipe() is LEAD section 11 as LeadConfig's defaults hold it (no field silently differs)."""
    cfg = lead.Recipe().config("cub200")
    paper = LeadConfig(dataset="cub200", llm_options={"category": "bird"}, progress=False)
    assert lead.changed_fields(cfg, paper) == set()
    assert cfg.config_hash() == paper.config_hash()


def test_recipe_config_for_the_world(recipe, base):
    assert base.dataset_options == {"num_classes": 4, "image_size": 32, "train_per_class": 8}
    assert base.method == "lead" and base.teacher == "embedded-M" and base.progress is False
    assert base.proj_dim == 64  # embedded-M's embedding dimension (open_clip config)
    assert base.llm_options == {} and base.llm_style == "a"
    assert recipe.kit_label("world:bird") == "fgkd embedded (world:bird, 32 px)"


def test_recipe_openai_options_name_the_coarse_category():
    cfg = lead.Recipe(llm_model="gpt-3.5-turbo").config("stanford_cars")
    assert cfg.dataset_options == {}
    assert cfg.llm_options == {"model": "gpt-3.5-turbo", "category": "car"}
    assert lead.llm_options("openai", "cub200", base_url="https://api.deepseek.com/v1", api_key_env="DS_KEY") == {
        "base_url": "https://api.deepseek.com/v1", "api_key_env": "DS_KEY", "category": "bird"}


def test_teacher_options_reach_the_embedded_teacher():
    cfg = lead.Recipe(**{**SMALL, "teacher_epochs": 2, "teacher_pool_per_class": 3}).config("world:bird")
    assert cfg.teacher_options == {"epochs": 2, "world_options": {"pretrain_per_class": 3}}


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="epochs"):
        lead.Recipe(epochs="10")
    with pytest.raises(ValueError, match="pretrained"):
        lead.Recipe(pretrained=1)
    with pytest.raises(ValueError, match="embedded teachers only"):
        lead.Recipe(teacher="ViT-B-16/openai", teacher_epochs=3)
    with pytest.raises(ValueError, match="llm_model"):
        lead.Recipe(llm="template", llm_model="gpt-4o")
    with pytest.raises(ValueError, match="llm_style"):
        lead.Recipe(llm="openai", llm_style="a")
    with pytest.raises(ValueError, match="world_classes"):
        lead.Recipe(world_classes=1)
    with pytest.raises(ValueError, match="model config"):
        lead.teacher_embed_dim("NoSuchArch/openai")


def test_recipe_from_takes_only_recipe_keys():
    namespace = {**lead.Recipe(**SMALL).__dict__, "datasets": "world:bird", "output_dir": ".", "lengths": "10,70"}
    assert lead.recipe_from(namespace) == lead.Recipe(**SMALL)
    del namespace["category_temperature"]  # a field the namespace lacks comes from the set's recipe file
    embedded = yaml.safe_load((REPO / "params" / "embedded" / "lead.yaml").read_text())
    assert lead.recipe_from(namespace).category_temperature == embedded["category_temperature"]


def test_recipe_from_reads_the_params_sets_recipe_and_the_namespace_overrides_it(tmp_path):
    smoke = yaml.safe_load((REPO / "params" / "smoke" / "lead.yaml").read_text())
    assert lead.recipe_from({"params_set": "smoke"}) == lead.Recipe(**smoke)
    assert lead.recipe_from({"params_set": "smoke", "epochs": 10}) == lead.Recipe(**{**smoke, "epochs": 10})
    assert lead.recipe_from({}) == lead.recipe_from({"params_set": "embedded"})  # a notebook opened in JupyterLab
    (tmp_path / "lead.yaml").write_text("epochs: 2\nkd_temperature: 0.1\n")
    with pytest.raises(ValueError, match=r"lead.yaml: key 'kd_temperature'.*renamed to 'category_temperature'"):
        lead.recipe_from({"params_set": str(tmp_path)})
    (tmp_path / "lead.yaml").write_text("epochs: two\n")
    with pytest.raises(ValueError, match="epochs"):
        lead.recipe_from({"params_set": str(tmp_path)})


def test_split_list():
    assert lead.split_list(" 10, 30 ,70", int, name="lengths") == [10, 30, 70]
    with pytest.raises(ValueError, match="lengths"):
        lead.split_list("10,ten", int, name="lengths")
    with pytest.raises(ValueError, match="empty"):
        lead.split_list(" , ", name="datasets")


# --- grids: only the named field differs ------------------------------------------------------


def _only(grid, base, allowed):
    for key, cfg in grid.items():
        assert lead.changed_fields(cfg, base) <= set(allowed), key


def test_text_length_and_word_removal_grids(base):
    lengths = lead.text_length_grid(base, [10, 30, 70])
    _only(lengths, base, {"max_words"})
    assert lengths[70] == base and lengths[10].max_words == 10
    removal = lead.word_removal_grid(base, [0, 20, 80])
    _only(removal, base, {"word_removal"})
    assert removal[0].config_hash() == base.config_hash() and removal[20].word_removal == 0.2
    with pytest.raises(ValueError, match="100"):
        lead.word_removal_grid(base, [100])
    with pytest.raises(ConfigError, match="max_words"):
        lead.text_length_grid(base, [80])


def test_llm_grid_changes_only_the_llm(base):
    grid = lead.llm_grid(base, {"GPT-3": {}, "DeepSeek": {"llm_style": "b"}})
    assert grid["GPT-3"] is base
    assert lead.changed_fields(grid["DeepSeek"], base) == {"llm_style"}
    with pytest.raises(ValueError, match="may only change"):
        lead.llm_grid(base, {"x": {"epochs": 3}})


def test_teacher_grid_moves_the_projection_dim_with_the_teacher(base):
    grid = lead.teacher_grid(base, ["embedded-S", "embedded-M", "embedded-L"])
    assert grid["embedded-M"] is base
    assert lead.changed_fields(grid["embedded-S"], base) == {"teacher"}  # S and M are both 64-d
    assert lead.changed_fields(grid["embedded-L"], base) == {"teacher", "proj_dim"}
    assert grid["embedded-L"].proj_dim == 96


def test_method_and_main_grids(recipe, base):
    grid = lead.method_grid(base, ["simclr", "ibot", "moco", "lead"])
    assert list(grid) == ["SimCLR", "iBOT", "MoCo v2", "LEAD"]
    _only(grid, base, {"method"})
    main = lead.main_grid(recipe, ["world:bird", "world:car"])
    assert list(main) == [("CUB", "MoCo v2"), ("CUB", "LEAD"), ("Cars", "MoCo v2"), ("Cars", "LEAD")]
    assert main[("CUB", "LEAD")] == base
    assert lead.changed_fields(main[("Cars", "LEAD")], base) == {"dataset"}


def test_num_categories_grid_maps_the_class_count_to_the_base(base):
    grid = lead.num_categories_grid(base, [2, 4, 6])
    _only(grid, base, {"num_categories"})
    assert grid[4] == base and grid[6].num_categories == 6 and grid[2].num_categories == 2


def test_num_images_grid(base):
    grid = lead.num_images_grid(base, [0.5, 1.0])
    assert list(grid) == [(16, "MoCo v2"), (16, "LEAD"), (32, "MoCo v2"), (32, "LEAD")]
    assert grid[(32, "LEAD")] == base
    _only(grid, base, {"dataset_options", "method"})
    assert grid[(16, "LEAD")].dataset_options["train_per_class"] == 4
    with pytest.raises(ValueError, match="fewer than one batch"):
        lead.num_images_grid(base, [0.25])
    with pytest.raises(ConfigError, match="training-subset"):
        lead.num_images_grid(lead.Recipe().config("cub200"), [0.5])


# --- the shared base run: one hash in every notebook ------------------------------------------


def _params(set_name: str, notebook: Path) -> dict:
    """The notebook's parameters as fgkd reproduce injects them: defaults, the params file, params_set."""
    values = {n: p.default for n, p in notebook_parameters(notebook).items()}
    values.update(yaml.safe_load((REPO / "params" / set_name / f"{notebook.stem}.yaml").read_text()) or {})
    return {**values, "params_set": set_name}


def test_lead_notebooks_are_there():
    assert NOTEBOOKS and all(nb.is_file() for nb in NOTEBOOKS)  # the manifest's LEAD entries
    assert NOTEBOOKS[0].stem == "lead_main"


def test_notebook_defaults_are_the_embedded_params():
    for nb in NOTEBOOKS:
        defaults = {n: p.default for n, p in notebook_parameters(nb).items() if n not in ("output_dir", "params_set")}
        embedded = yaml.safe_load((REPO / "params" / "embedded" / f"{nb.stem}.yaml").read_text()) or {}
        assert embedded == defaults, nb.stem


@pytest.mark.parametrize("set_name", ["embedded", "smoke"])
def test_shared_base_runs_hash_identically_across_notebooks(set_name):
    p = {nb.stem: _params(set_name, nb) for nb in NOTEBOOKS}
    recipe = lead.recipe_from(p["lead_main"])
    dataset = p["lead_text_length"]["dataset"]
    main = lead.main_grid(recipe, lead.split_list(p["lead_main"]["datasets"]))
    base_hash = main[(lead.benchmark(dataset), "LEAD")].config_hash()
    moco_hash = main[(lead.benchmark(dataset), "MoCo v2")].config_hash()
    base = recipe.config(dataset)

    def ints(nb, key):
        return lead.split_list(p[nb][key], int)

    shared = {
        "llm_choice": lead.llm_grid(base, {"GPT-3": {}})["GPT-3"],
        "text_length": lead.text_length_grid(base, ints("lead_text_length", "lengths"))[recipe.max_words],
        "teacher": lead.teacher_grid(base, lead.split_list(p["lead_teacher_backbone"]["teachers"]))[recipe.teacher],
        "word_removal": lead.word_removal_grid(base, ints("lead_word_removal", "removal_pcts"))[0],
        "vs_ssl": lead.method_grid(base, lead.split_list(p["lead_vs_ssl"]["methods"]))["LEAD"],
        "num_categories": lead.num_categories_grid(base, ints("lead_num_categories", "category_counts"))[
            recipe.world_classes],
        "entropy": recipe.config(p["lead_entropy_examples"]["dataset"]),
    }
    images = lead.num_images_grid(base, lead.split_list(p["lead_num_images"]["train_fractions"], float))
    full = recipe.world_classes * recipe.world_train_per_class
    shared["num_images"], moco_images = images[(full, "LEAD")], images[(full, "MoCo v2")]
    tsne = lead.main_grid(recipe, lead.split_list(p["lead_tsne"]["datasets"]))
    shared["tsne"] = tsne[(lead.benchmark(dataset), "LEAD")]
    assert {k: c.config_hash() for k, c in shared.items() if c.config_hash() != base_hash} == {}
    assert moco_images.config_hash() == moco_hash == lead.method_grid(base, ["moco"])["MoCo v2"].config_hash()


# --- tables and verdicts ----------------------------------------------------------------------


def test_run_table_trains_each_config_once(base, fake_store, capsys):
    grid = lead.word_removal_grid(base, [0, 40])
    grid[99] = base  # another key naming the same run
    table = lead.run_table(grid, "removal_pct", [0, 1, 2])
    assert table.index.name == "removal_pct"
    assert list(lead.kit_columns(table).columns) == [c for m in LEAD_METRICS for c in (m, f"{m} sd")]
    assert len(fake_store) == 2 * 3  # the base once per seed, 40 % once per seed
    assert table.loc[0, "Top-1"] == table.loc[99, "Top-1"] > table.loc[40, "Top-1"]
    # the mean over seeds 0, 1, 2 of 50 - 4 + 3.5 + 0.08 + 0.25 * seed, with its sample s.d.
    assert table.loc[40, "Top-1"] == pytest.approx(50.0 - 4.0 + 3.5 + 0.08 + 0.25)
    assert table.loc[40, "Top-1 sd"] == pytest.approx(0.25)
    assert table.loc[40, "Top-1 per seed"] == pytest.approx((49.58, 49.83, 50.08))
    assert table.loc[40, "seeds"] == (0, 1, 2)
    long = lead.long_format(table)
    assert set(long.columns) == {"removal_pct", "seed", "metric", "value"} and len(long) == 3 * 3 * 5
    assert "train_s" not in set(long["metric"])  # a timing: not in a file that must repeat byte for byte
    assert "cached" in capsys.readouterr().out


def _table(per_seed: dict, metric: str = "Top-1", seeds=(0, 1, 2)):
    """A table with per-seed columns, as lead.run_table returns, from ``{key: [v per seed]}``."""
    from fgkd.experiments.common import seed_summary

    rows = {k: seed_summary(seeds, [{metric: v} for v in values]) for k, values in per_seed.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_main_table_and_verdicts(recipe, fake_store):
    table = lead.run_table(lead.main_grid(recipe, ["world:bird", "world:car"]), ("benchmark", "method"), [0, 1, 2])
    assert table.index.names == ["benchmark", "method"]
    verdicts = lead.verdict_beats(table, "LEAD", "MoCo v2")
    assert [v.claim for v in verdicts] == ["LEAD beats MoCo v2 in Top-1 on CUB", "LEAD beats MoCo v2 in Top-1 on Cars"]
    assert all(v.holds and v.interval.n == 3 for v in verdicts)
    assert all(v.status == "contradicted" for v in lead.verdict_beats(table, "MoCo v2", "LEAD"))
    one_seed = lead.run_table(lead.main_grid(recipe, ["world:bird"]), ("benchmark", "method"))
    assert lead.verdict_beats(one_seed, "LEAD", "MoCo v2")[0].status == "inconclusive"  # no interval from 1 seed


def test_verdict_trend_best_and_close():
    down = _table({0: [50.0, 49.0, 51.0], 40: [48.0, 47.5, 49.0], 80: [45.0, 46.0, 44.0]})
    v = lead.verdict_trend(down, "Top-1", decreasing=True, what="removal")
    assert v.holds and v.kind == "trend" and v.values == (1.0, 1.0, 1.0)
    assert lead.verdict_trend(down, "Top-1", decreasing=False, what="removal").status == "contradicted"
    mixed = _table({0: [50.0, 45.0, 50.0], 40: [48.0, 47.0, 49.0], 80: [45.0, 49.0, 51.0]})
    assert lead.verdict_trend(mixed, "Top-1", decreasing=True, what="removal").status == "inconclusive"
    two = _table({10: [40.0, 41.0, 40.5], 70: [41.0, 43.0, 40.0]})  # two points: no rank correlation
    short = lead.verdict_trend(two, "Top-1", decreasing=False, what="length")
    assert short.kind == "difference" and short.values == (1.0, 2.0, -0.5) and short.status == "inconclusive"
    ranked = _table({"S": [30.0, 31.0, 29.0], "M": [40.0, 41.0, 42.0], "L": [45.0, 44.0, 46.0]})
    assert lead.verdict_trend(ranked, "Top-1", decreasing=False, what="capacity", order=["S", "M", "L"]).holds
    methods = _table({"SimCLR": [30.0, 31.0, 29.0], "LEAD": [50.0, 50.0, 50.0], "MoCo v2": [45.0, 46.0, 44.0]})
    best = lead.verdict_best(methods, "Top-1", "LEAD", what="methods")
    assert best.holds and best.values == (5.0, 4.0, 6.0)
    assert lead.verdict_best(methods, "Top-1", "MoCo v2", what="methods").status == "contradicted"
    llms = _table({"a": [50.0, 49.0, 51.0], "b": [49.5, 49.5, 50.0]})
    close = lead.verdict_close(llms, "Top-1", "a", "b", reference_gap=2.0, reference="the gain")
    assert close.holds and close.values == (1.5, 1.5, 1.0)
    assert not lead.verdict_close(llms, "Top-1", "a", "b", reference_gap=0.1, reference="g").holds


def test_tsne_frame_and_separation(recipe, fake_store):
    grid = lead.main_grid(recipe, ["world:bird"])
    runs = lead.get_runs(grid, verbose=False)
    points, sep = lead.tsne_frame(runs, max_points=30, perplexity=5.0)
    assert list(points.columns) == ["benchmark", "method", "x", "y", "label"]
    assert len(points) == 2 * 30 and set(points.method) == {"MoCo v2", "LEAD"}
    assert sep.loc[("CUB", "LEAD"), "silhouette"] > sep.loc[("CUB", "MoCo v2"), "silhouette"]
    table = lead.separation_table(grid, [0, 1])
    assert table.loc[("CUB", "LEAD"), "silhouette"] == pytest.approx(sep.loc[("CUB", "LEAD"), "silhouette"])
    verdict = lead.verdict_beats(table, "LEAD", "MoCo v2", metric="silhouette")[0]
    assert verdict.kit > 0 and verdict.interval.n == 2


def test_subsample_is_stratified():
    labels = np.repeat(np.arange(4), 25)
    keep = lead.subsample(labels, 40, seed=1)
    assert len(keep) == 40 and np.all(np.bincount(labels[keep]) == 10)
    assert np.array_equal(lead.subsample(labels, 500), np.arange(100))


def test_entropy_summary_and_pick_examples():
    frame = pd.DataFrame({
        "teacher_correct": [True, True, False, False, False],
        "student_correct": [True, False, True, False, True],
        "entropy": [0.1, 0.3, 0.9, 0.8, 0.7],
    })
    frame["w_kd"] = 1 - frame.entropy**2
    s = lead.entropy_summary(frame)
    assert s["H (teacher right)"] == pytest.approx(0.2) and s["H (teacher wrong)"] == pytest.approx(0.8)
    assert s["student right | teacher wrong"] == pytest.approx(200 / 3)
    picked = lead.pick_entropy_examples(frame, per_case=1)
    assert picked == {"teacher right, low entropy": [0], "teacher wrong, student right": [2], "both wrong (hard)": [3]}


def test_description_examples_from_the_template_llm(recipe):
    table = lead.description_examples(recipe, ["world:bird", "world:car"], per_dataset=2)
    assert list(table.columns) == ["coarse category", "fine-grained category", "description", "words"]
    assert list(table["coarse category"]) == ["bird", "bird", "car", "car"]
    assert all(name in text for name, text in zip(table["fine-grained category"], table.description))
    assert (table.words <= recipe.max_words).all()
    lengths = lead.description_lengths(lead.Recipe(**{**SMALL, "max_words": 12}), ["world:bird"])
    assert lengths.loc["world:bird", "classes"] == 4 and lengths.loc["world:bird", "max words"] <= 12


# --- Figure 5 on one tiny real LEAD run -------------------------------------------------------


@pytest.mark.slow
def test_entropy_examples_on_a_tiny_run(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "train"))
    import train_fakes  # registers fake:blobs and the test_tiny backbone

    from fgkd.runs import get_or_train

    teacher = train_fakes.tiny_teacher()
    cfg = train_fakes.lead_config(llm_options=train_fakes.write_llm_files(tmp_path), teacher_mode="cached")
    run = get_or_train(cfg, teacher=teacher)
    ex = lead.entropy_examples(run, teacher=teacher)
    n, c = len(run.arrays("test")["labels"]), len(train_fakes.CLASSES)
    assert ex.teacher_probs.shape == ex.student_probs.shape == (n, c)
    assert np.allclose(ex.teacher_probs.sum(1), 1, atol=1e-5) and np.allclose(ex.student_probs.sum(1), 1, atol=1e-5)
    assert np.allclose(ex.w_cl, ex.entropy**2, atol=1e-6) and np.allclose(ex.w_kd, 1 - ex.entropy**2, atol=1e-6)
    assert np.array_equal(ex.target, ex.labels)  # categories are the classes here
    frame = ex.frame()
    assert {"teacher_correct", "student_correct", "entropy", "w_kd"} <= set(frame.columns)
    zero_shot = lead.teacher_zero_shot({"tiny": run}, teacher=teacher)
    assert zero_shot["tiny"] == pytest.approx(100.0 * float(frame.teacher_correct.mean()))


def test_tsne_is_computed_once_per_run(recipe, fake_store, monkeypatch):
    runs = lead.get_runs(lead.main_grid(recipe, ["world:bird"]), verbose=False)
    first, _ = lead.tsne_frame(runs, max_points=30, perplexity=5.0)

    def fail(*args, **kwargs):
        raise AssertionError("t-SNE recomputed although cached")

    import fgkd.experiments.lead.figures as figures

    monkeypatch.setattr(figures, "tsne_2d", fail)  # where tsne_frame's cache looks it up
    again, _ = lead.tsne_frame(runs, max_points=30, perplexity=5.0)
    pd.testing.assert_frame_equal(first, again)
    with pytest.raises(AssertionError, match="recomputed"):
        lead.tsne_frame(runs, max_points=30, perplexity=6.0)  # other settings: a new embedding


def test_truncated_share_counts_descriptions_over_the_context(base):
    sys.path.insert(0, str(REPO / "tests" / "train"))
    import train_fakes

    teacher = train_fakes.tiny_teacher()  # open_clip's tokenizer, 77-token context
    share = lead.truncated_share(lead.text_length_grid(base, [10, 70]), teacher=teacher)
    assert share.loc[10] == 0.0
    assert share.loc[70] == 100.0  # the template's 70-word descriptions are ~87 tokens


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_cells_are_valid_python(notebook):
    import nbformat

    for i, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        if cell.cell_type == "code":
            try:
                ast.parse(cell.source)
            except SyntaxError as error:
                pytest.fail(f"{notebook.name} cell {i}: {error}")


def test_embedded_teachers_are_the_recipe_teacher_and_the_table3_list_with_their_options():
    params = {"teacher": "embedded-M", "teachers": "embedded-S, embedded-M,ViT-B-16/openai", "teacher_epochs": 2,
              "teacher_pool_per_class": 0}
    assert lead.embedded_teachers(params) == [("embedded-M", {"epochs": 2}), ("embedded-S", {"epochs": 2})]
    assert lead.embedded_teachers({"teacher": "ViT-L-14/openai"}) == []
