"""The two ways to install fgkd (pip/pyproject and conda/environment.yml) must not drift."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda package names that differ from their PyPI names
CONDA_TO_PYPI = {"pytorch": "torch", "open-clip-torch": "open_clip_torch", "ray-data": "ray"}
CONDA_ONLY = {"python", "pip"}


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def _pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return {_name(r) for r in reqs}


def _conda_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            conda_name = _name(dep)
            names.add(_name(CONDA_TO_PYPI.get(conda_name, conda_name)))
    return names - CONDA_ONLY


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    pyproject, conda = _pyproject_names(), _conda_names()
    assert pyproject == conda, (
        f"only in pyproject.toml: {sorted(pyproject - conda)}; "
        f"only in environment.yml: {sorted(conda - pyproject)}"
    )


def test_environment_yml_installs_fgkd_itself_editable():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "fgkd"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert "make test" in ci


def test_console_command_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["fgkd"] == "fgkd.cli:main"


def test_conda_uses_conda_forge_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]


def test_constraints_pin_every_dependency_and_the_makefile_uses_them():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[_name(name)] = version
    # every direct dependency is pinned, except torch/torchvision (the Makefile's TORCH_SPEC)
    assert _pyproject_names() - {"torch", "torchvision"} <= set(pins)
    assert not {"torch", "torchvision"} & set(pins)
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile and "constraints.txt" in makefile.split("$(STAMP):")[1].splitlines()[0]


def test_interactive_work_happens_in_an_ignored_copy():
    makefile = (ROOT / "Makefile").read_text()
    lab = makefile.split("\nlab:")[1].split("\n\n")[0]
    assert "jupyter lab lab/" in lab and "cp" in lab and "notebooks/" not in lab.split("jupyter lab")[1]
    assert "/lab/" in (ROOT / ".gitignore").read_text().splitlines()
    readme = (ROOT / "README.md").read_text()
    papermill = [line for line in readme.splitlines() if line.startswith("papermill ")]
    assert papermill and all(" lab/" in line and "output_dir lab/" in line for line in papermill)
