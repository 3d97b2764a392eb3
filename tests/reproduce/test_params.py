"""fgkd.reproduce.params: a params set's files against the notebooks' parameters cells and the
shared recipes, every problem in one ParamsError naming the file, the notebook, the key and the fix."""

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from notebook_fakes import PARAMETERS, make_notebook, write_manifest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fakes import make_fake_cub  # noqa: E402

from fgkd.reproduce import names as N  # noqa: E402
from fgkd.reproduce import params as P  # noqa: E402
from fgkd.reproduce.params import (  # noqa: E402
    ParamsError,
    ParamsSet,
    check_params,
    key_kind,
    load_params,
    notebook_parameters,
    prepare_params,
    validate_params,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def nb(tmp_path):
    return make_notebook(tmp_path / "notebooks" / "fake_table.ipynb")


@pytest.fixture
def pset(tmp_path):
    folder = tmp_path / "myset"
    folder.mkdir()
    return ParamsSet("myset", folder)


def write(pset: ParamsSet, text: str) -> Path:
    path = pset.folder / "fake_table.yaml"
    path.write_text(text)
    return path


def test_notebook_parameters_reads_defaults_as_python_values(nb):
    found = notebook_parameters(nb)
    assert found["num_classes"].default == 10
    assert found["lr"].default == 0.1
    assert found["dataset"].default == "world:bird"
    assert found["use_cache"].default is True
    assert found["note"].default is None
    assert found["num_classes"].help == "classes in the table"


def test_valid_params_load(nb, pset):
    write(pset, "num_classes: 5\nlr: 1   # an int where a float is expected is fine\nuse_cache: false\n")
    assert load_params(pset, nb) == {"num_classes": 5, "lr": 1, "use_cache": False}


def test_empty_file_means_defaults(nb, pset):
    write(pset, "# nothing to change\n")
    assert load_params(pset, nb) == {}


def test_unknown_key_names_file_notebook_key_and_suggests(nb, pset):
    path = write(pset, "num_clases: 5\n")
    with pytest.raises(ParamsError) as info:
        load_params(pset, nb)
    message = str(info.value)
    assert str(path) in message and str(nb) in message
    assert "'num_clases'" in message
    assert "did you mean 'num_classes'?" in message
    assert info.value.problems[0].key == "num_clases"


def test_wrong_type_is_rejected(nb, pset):
    write(pset, "num_classes: ten\n")
    with pytest.raises(ParamsError, match=r"'num_classes'.*has type str.*int") as err:
        load_params(pset, nb)
    assert "give an int value" in str(err.value)  # the article reads right


def test_bool_is_not_an_int_and_float_is_not_an_int(nb, pset):
    write(pset, "num_classes: true\n")
    with pytest.raises(ParamsError, match="has type bool"):
        load_params(pset, nb)
    write(pset, "num_classes: 2.5\n")
    with pytest.raises(ParamsError, match="has type float"):
        load_params(pset, nb)


def test_none_default_accepts_any_type(nb, pset):
    write(pset, "note: [1, 2]\n")
    assert load_params(pset, nb) == {"note": [1, 2]}


def test_all_problems_come_in_one_error(nb, pset):
    write(pset, "num_clases: 5\nlr: fast\noutput_dir: /tmp/x\n")
    with pytest.raises(ParamsError) as info:
        load_params(pset, nb)
    assert [p.key for p in info.value.problems] == ["num_clases", "lr", "output_dir"]
    assert "3 problems" in str(info.value)
    assert "set by fgkd reproduce" in str(info.value)


def test_registered_names_check_values_with_suggestion(nb, pset, monkeypatch):
    monkeypatch.setitem(N._NAME_SOURCES, "dataset", [lambda: ["world:bird", "world:car"]])
    write(pset, "dataset: world:brid\n")
    with pytest.raises(ParamsError) as info:
        load_params(pset, nb)
    assert "unknown dataset 'world:brid'" in str(info.value)
    assert "did you mean 'world:bird'?" in str(info.value)
    write(pset, "dataset: world:car\n")
    assert load_params(pset, nb) == {"dataset": "world:car"}


def test_kind_with_no_available_registry_accepts_any_name(nb, pset, monkeypatch):
    import importlib

    def missing_module():
        return importlib.import_module("fgkd.module_that_does_not_exist").list_datasets()

    monkeypatch.setitem(N._NAME_SOURCES, "dataset", [missing_module])
    write(pset, "dataset: anything\n")
    assert P.known_names("dataset") is None
    assert load_params(pset, nb) == {"dataset": "anything"}


def test_register_names_and_validator(monkeypatch):
    monkeypatch.setattr(N, "_NAME_SOURCES", {})
    monkeypatch.setattr(N, "_VALIDATORS", {})
    P.register_names("widget", ["a", "b"])
    P.register_names("widget", lambda: ["c"])
    assert P.known_names("widget") == ["a", "b", "c"]
    P.register_validator("widget", lambda value, params: None if value != "c" else "c is broken. Fix: use a")
    assert key_kind("left_widgets") == ("widget", True)
    notebook = {"left_widgets": P.NotebookParameter("left_widgets", "a", '"a"', ""),
                "output_dir": P.NotebookParameter("output_dir", ".", '"."', "")}
    problems = validate_params({"left_widgets": "a, c, d"}, "nb.ipynb", "p.yaml", notebook)
    assert [(p.problem, p.fix) for p in problems] == [
        ("c is broken", "use a"), ("unknown widget 'd'", "use one of: a, b, c")]


def test_key_kind_spelling():
    assert key_kind("dataset") == ("dataset", False)
    assert key_kind("pretrain_dataset") == ("dataset", False)
    assert key_kind("backbones") == ("backbone", True)
    assert key_kind("question_llm") == ("llm", False)
    assert key_kind("seed") == (None, False)
    assert key_kind("datasetx") == (None, False)


def test_missing_root_folder_is_an_error_unless_files_are_not_checked(nb, pset, tmp_path):
    write(pset, f"data_root: {tmp_path / 'nowhere'}\n")
    with pytest.raises(ParamsError, match="'data_root'.*does not exist"):
        load_params(pset, nb)
    assert check_params(pset, [nb], check_files=False) == {"fake_table": {"data_root": str(tmp_path / "nowhere")}}
    (tmp_path / "nowhere").mkdir()
    assert load_params(pset, nb)["data_root"] == str(tmp_path / "nowhere")


def test_real_dataset_without_its_folder_is_an_error(nb, pset, tmp_path, monkeypatch):
    monkeypatch.setenv("FGKD_DATA_DIR", str(tmp_path / "data"))
    write(pset, "dataset: cub200\n")
    with pytest.raises(ParamsError) as info:
        load_params(pset, nb)
    message = str(info.value)
    assert "dataset 'cub200' has no folder" in message and "FGKD_DATA_DIR" in message and "'data_root'" in message
    (tmp_path / "data" / "cub200").mkdir(parents=True)  # an empty folder is not the dataset
    with pytest.raises(ParamsError, match="dataset 'cub200' at .*cub200 is incomplete"):
        load_params(pset, nb)
    (tmp_path / "data" / "cub200").rmdir()
    make_fake_cub(tmp_path / "data")  # unpacked as the archive unpacks: $FGKD_DATA_DIR/CUB_200_2011
    assert load_params(pset, nb) == {"dataset": "cub200"}


def test_missing_params_file_is_an_error(nb, pset):
    with pytest.raises(ParamsError, match="fake_table.yaml.*does not exist.*empty file"):
        load_params(pset, nb)


def test_yaml_that_is_not_a_mapping_is_an_error(nb, pset):
    write(pset, "- 1\n- 2\n")
    with pytest.raises(ParamsError, match="not a mapping"):
        load_params(pset, nb)


def test_notebook_without_parameters_cell_is_an_error(tmp_path, pset):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    path = tmp_path / "fake_table.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), path)
    write(pset, "x: 2\n")
    with pytest.raises(ParamsError, match="no code cell tagged 'parameters'"):
        load_params(pset, path)


def test_notebook_without_output_dir_parameter_is_an_error(tmp_path, pset):
    path = make_notebook(tmp_path / "fake_table.ipynb", parameters="seed = 0  # seed\n")
    write(pset, "seed: 1\n")
    with pytest.raises(ParamsError, match="'output_dir'.*missing from the notebook's parameters cell"):
        load_params(pset, path)


def _teacher_notebook() -> dict:
    return {"teacher": P.NotebookParameter("teacher", "embedded-M", '"embedded-M"', ""),
            "output_dir": P.NotebookParameter("output_dir", ".", '"."', "")}


def test_teacher_names_embedded_or_open_clip_arch_tag(monkeypatch):
    import types

    # a stand-in for fgkd.teachers.embedded (the real one imports open_clip: seconds)
    fake = types.ModuleType("fgkd.teachers.embedded")
    fake.EMBEDDED_TEACHERS = ("embedded-S", "embedded-M", "embedded-L")
    monkeypatch.setitem(sys.modules, "fgkd.teachers.embedded", fake)
    notebook = _teacher_notebook()
    assert validate_params({"teacher": "embedded-L"}, "nb.ipynb", "p.yaml", notebook) == []
    assert validate_params({"teacher": "ViT-B-16/openai"}, "nb.ipynb", "p.yaml", notebook, check_files=False) == []
    [problem] = validate_params({"teacher": "embeded-M"}, "nb.ipynb", "p.yaml", notebook)
    assert problem.problem == "unknown teacher 'embeded-M' (did you mean 'embedded-M'?)"
    assert "ARCH/TAG" in problem.fix


def test_pretrained_teacher_weights_must_be_on_disk(monkeypatch):
    import types

    fake = types.ModuleType("fgkd.teachers.pretrained")

    def resolve_checkpoint(arch, tag):
        if tag != "present":
            raise FileNotFoundError(f"no {arch}/{tag} weights in ~/.cache/huggingface/hub")
        return Path("/weights.bin")

    fake.resolve_checkpoint = resolve_checkpoint
    monkeypatch.setitem(sys.modules, "fgkd.teachers.pretrained", fake)
    embedded = types.ModuleType("fgkd.teachers.embedded")
    embedded.EMBEDDED_TEACHERS = ("embedded-M",)
    monkeypatch.setitem(sys.modules, "fgkd.teachers.embedded", embedded)
    notebook = _teacher_notebook()
    [problem] = validate_params({"teacher": "ViT-B-16/openai"}, "nb.ipynb", "p.yaml", notebook)
    assert "no ViT-B-16/openai weights" in problem.problem
    assert validate_params({"teacher": "ViT-B-16/present"}, "nb.ipynb", "p.yaml", notebook) == []
    assert validate_params({"teacher": "ViT-B-16/openai"}, "nb.ipynb", "p.yaml", notebook, check_files=False) == []


def test_register_names_rejects_a_module_string():
    with pytest.raises(TypeError, match="not a string"):
        P.register_names("dataset", "fgkd.data.registry:list_datasets")


# --- a notebook with a paper: its set's shared recipe ----------------------------------------

# the fake parameters without `lr`, a LEAD recipe key, plus params_set
LEAD_PARAMETERS = "".join(line for line in PARAMETERS.splitlines(keepends=True) if not line.startswith("lr ")).replace(
    'output_dir = "."', 'params_set = "embedded"  # set of the shared recipe\noutput_dir = "."')


@pytest.fixture
def lead_nb(tmp_path):
    path = make_notebook(tmp_path / "notebooks" / "fake_table.ipynb", parameters=LEAD_PARAMETERS)
    write_manifest(path.parent, {"fake_table": "lead"})
    return path


@pytest.fixture
def lead_set(pset):
    """A set whose LEAD recipe is the smoke set's."""
    shutil.copyfile(REPO / "params" / "smoke" / "lead.yaml", pset.folder / "lead.yaml")
    write(pset, "num_classes: 3\n")
    return pset


def _recipe(pset: ParamsSet, text: str) -> Path:
    path = pset.folder / "lead.yaml"
    path.write_text(path.read_text() + text)
    return path


def test_a_paper_notebook_gets_its_sets_recipe_and_params_set(lead_nb, lead_set):
    from fgkd.experiments import lead

    [prepared] = prepare_params(lead_set, [lead_nb]).values()
    assert prepared.paper == "lead" and prepared.params == {"num_classes": 3}
    assert prepared.recipe_file == lead_set.folder / "lead.yaml"
    assert prepared.recipe == dataclasses.asdict(lead.recipe_from({"params_set": str(lead_set.folder)}))
    assert prepared.recipe["epochs"] == 1 and prepared.recipe["teacher"] == "embedded-S"  # the smoke recipe
    assert prepared.injected == {"num_classes": 3, "params_set": str(lead_set.folder)}  # a folder: its path
    assert prepared.effective["num_classes"] == 3 and prepared.effective["lr"] == 0.03  # own file, recipe
    assert check_params(lead_set, [lead_nb]) == {"fake_table": {"num_classes": 3}}


def test_a_shipped_set_is_injected_by_name(tmp_path):
    path = make_notebook(tmp_path / "fake_table.ipynb", parameters=LEAD_PARAMETERS)
    write_manifest(tmp_path, {"fake_table": "lead"})
    shipped = P.resolve_params_set("smoke")
    params = P.NotebookParams(notebook=path, params_file=shipped.file_for(path), params={}, defaults={"params_set": "x"},
                              paper="lead", params_set=shipped.ref)
    assert params.injected == {"params_set": "smoke"}


def test_unknown_recipe_key_names_the_recipe_file_and_suggests(lead_nb, lead_set):
    path = _recipe(lead_set, "category_temprature: 0.1\nkd_temperature: 0.1\n")
    with pytest.raises(ParamsError) as info:
        load_params(lead_set, lead_nb)
    typo, renamed = info.value.problems
    assert (typo.params_file, typo.key, typo.notebook) == (path, "category_temprature", None)
    message = str(info.value)
    assert "is not a key of the LEAD recipe (did you mean 'category_temperature'?)" in message
    assert "rename it to 'category_temperature'" in message and "(shared recipe)" in message
    assert renamed.key == "kd_temperature" and "(renamed to 'category_temperature')" in renamed.problem


def test_recipe_types_names_and_checks_are_validated_and_gathered(lead_nb, lead_set, monkeypatch):
    monkeypatch.setitem(N._NAME_SOURCES, "backbone", [lambda: ["resnet18", "resnet50"]])
    _recipe(lead_set, 'epochs: "5"\nbackbone: resnet19\n')
    write(lead_set, "num_clases: 3\n")
    with pytest.raises(ParamsError) as info:
        load_params(lead_set, lead_nb)
    assert [(p.params_file.name, p.key) for p in info.value.problems] == [
        ("lead.yaml", "backbone"), ("lead.yaml", "epochs"), ("fake_table.yaml", "num_clases")]  # in file order
    message = str(info.value)
    assert "has type str ('5') but the LEAD Recipe's epochs is int" in message
    assert "unknown backbone 'resnet19' (did you mean 'resnet18'?)" in message


def test_the_recipe_is_built_so_its_own_checks_run(lead_nb, lead_set):
    _recipe(lead_set, 'llm_model: "gpt-4o"\n')  # an openai option, but the smoke recipe's llm is the template
    with pytest.raises(ParamsError) as info:
        check_params(lead_set, [lead_nb], check_files=False)
    [problem] = info.value.problems
    assert problem.key == "llm_model" and "the LEAD Recipe rejects llm_model='gpt-4o'" in problem.problem


def test_a_recipe_key_belongs_in_the_recipe_file_only(lead_nb, lead_set):
    write(lead_set, "epochs: 3\n")
    with pytest.raises(ParamsError) as info:
        load_params(lead_set, lead_nb)
    [problem] = info.value.problems
    assert problem.key == "epochs" and "is a key of the shared LEAD recipe" in problem.problem
    assert str(lead_set.folder / "lead.yaml") in problem.fix


def test_a_parameters_cell_must_not_assign_a_recipe_key(tmp_path, lead_set):
    nb = make_notebook(tmp_path / "fake_table.ipynb", parameters=LEAD_PARAMETERS + "epochs = 5  # epochs\n")
    write_manifest(tmp_path, {"fake_table": "lead"})
    with pytest.raises(ParamsError) as info:
        load_params(lead_set, nb)
    [problem] = info.value.problems
    assert problem.params_file == nb and problem.key == "epochs" and "would override lead.yaml" in problem.problem


def test_a_paper_notebook_needs_params_set_and_its_recipe_file(tmp_path, pset):
    nb = make_notebook(tmp_path / "fake_table.ipynb", parameters=LEAD_PARAMETERS.replace("params_set", "x"))
    write_manifest(tmp_path, {"fake_table": "lead"})
    write(pset, "")
    with pytest.raises(ParamsError) as info:
        load_params(pset, nb)
    assert [p.key for p in info.value.problems] == ["(file)", "params_set"]
    assert "lead.yaml" in str(info.value) and "does not exist" in str(info.value)
    assert "'params_set' (notebook" in str(info.value) and "missing from the notebook's parameters cell" in str(info.value)


def test_a_notebook_its_manifest_does_not_list_is_an_error(lead_nb, lead_set):
    other = make_notebook(lead_nb.parent / "other.ipynb")
    (lead_set.folder / "other.yaml").write_text("")
    with pytest.raises(ParamsError, match=r"'\(manifest\)'.*other.ipynb has no entry in .*manifest.yaml"):
        check_params(lead_set, [lead_nb, other])


def test_values_out_of_range_are_each_named_before_anything_trains(lead_nb, lead_set):
    _recipe(lead_set, 'epochs: -2\nlr: -0.1\nbatch_size: 1\ndevice: "tpu"\nseed: -1\n')
    write(lead_set, "num_classes: 3\n")
    with pytest.raises(ParamsError) as info:
        check_params(lead_set, [lead_nb], check_files=False)
    keys = {p.key for p in info.value.problems}
    assert {"epochs", "lr", "batch_size", "device", "seed"} <= keys
    message = str(info.value)
    assert "epochs=-2 is out of range: it must be an int >= 1" in message and "device='tpu'" in message


def test_a_recipe_value_its_recipe_rejects_is_named_even_beside_others(lead_nb, lead_set):
    _recipe(lead_set, 'llm_model: "gpt-4o"\nteacher_epochs: 3\nteacher: "ViT-B-16/openai"\n')
    with pytest.raises(ParamsError) as info:
        check_params(lead_set, [lead_nb], check_files=False)
    assert {p.key for p in info.value.problems} >= {"llm_model"}


def test_the_same_problem_in_several_places_is_one_message(tmp_path):
    from fgkd.reproduce.sets import Problem

    problems = [Problem(tmp_path / f"n{i}.yaml", None, "teacher", "weights missing", "download them") for i in range(3)]
    problems.append(Problem(tmp_path / "x.yaml", None, "epochs", "bad", "fix it"))
    message = str(ParamsError(problems))
    assert message.count("weights missing") == 1 and "(3 places: " in message and "n2.yaml" in message
    assert message.startswith("4 problems") and "x.yaml: key 'epochs'" in message


def test_files_the_runs_need_are_checked_at_dry_run(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert "resnet50-0676ba61.pth" in N._backbone_weights("resnet50", {"pretrained": True})
    assert N._backbone_weights("resnet50", {"pretrained": False}) is None
    assert "no torchvision ImageNet weights" in N._backbone_weights("mobilenet_v1", {"pretrained": True})
    assert "$OPENAI_API_KEY, which is not set" in N._llm_key("openai", {})
    assert "$DEEPSEEK_API_KEY" in N._llm_key("openai", {"alt_llm_key_env": "DEEPSEEK_API_KEY"}, key="alt_llm")
    assert N._llm_key("template", {}) is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert N._llm_key("openai", {}) is None
    assert "hf download fgkd-test/no-such-vlm" in N._vlm_on_disk("vlm", {"scorer_model": "fgkd-test/no-such-vlm"})
    assert N._vlm_on_disk("vlm", {"scorer_model": str(tmp_path)}) is None  # a local folder
    assert N._vlm_on_disk("clip", {"scorer_model": "embedded-M"}) is None
    assert N._vlm_on_disk("vlm", {"scorer_model": "embedded-vlm-S"}) is None  # fgkd trains it first

