import shutil
from pathlib import Path

import pytest

from fgkd.config import ConfigError
from fgkd.secrets import MASK, env_name_problem, mask

KEY = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2  # the shape of a pasted OpenAI key
REPO = Path(__file__).resolve().parents[1]


def test_mask_replaces_key_shaped_text_only():
    assert mask(f"request failed with key {KEY} for user x") == f"request failed with key {MASK} for user x"
    assert mask("Authorization: Bearer abcdefghijklmnop") == f"Authorization: Bearer {MASK}"
    for safe in ("OPENAI_API_KEY", "run 1f28740fc335e0b5 trained", "sk-1", "world:bird"):
        assert mask(safe) == safe


def test_env_name_problem_never_echoes_the_value():
    assert env_name_problem("DEEPSEEK_API_KEY", "alt_llm_key_env") is None
    assert env_name_problem("", "alt_llm_key_env") is None  # not set
    message = env_name_problem(KEY, "alt_llm_key_env")
    assert "alt_llm_key_env" in message and "pasted" in message and KEY not in message and KEY[:12] not in message
    assert "not a variable name" in env_name_problem("my key", "api_key_env")


def test_config_errors_mask_keys():
    assert KEY not in str(ConfigError(f"LeadConfig.llm_options={{'api_key_env': '{KEY}'}} is invalid"))


def test_openai_backend_refuses_a_key_as_variable_name():
    from fgkd.llm.openai_backend import OpenAIConfig

    with pytest.raises(ValueError) as err:
        OpenAIConfig(model="gpt-4o", api_key_env=KEY)
    assert KEY not in str(err.value) and "NAME of the environment variable" in str(err.value)


def test_dry_run_refuses_a_pasted_key_without_echoing_it(tmp_path, capsys):
    from fgkd.cli import main

    params = tmp_path / "params"
    shutil.copytree(REPO / "params" / "smoke", params)
    own = params / "lead_llm_choice.yaml"
    own.write_text(own.read_text().replace('alt_llm_key_env: ""', f'alt_llm_key_env: "{KEY}"'))
    code = main(["reproduce", "--params", str(params), "--only", "lead_llm_choice", "--dry-run", "--no-progress"])
    out = capsys.readouterr()
    assert code != 0
    assert "alt_llm_key_env" in out.out + out.err and KEY not in out.out + out.err


def test_run_configs_refuse_a_key_in_llm_options():
    from fgkd.methods import LeadConfig, MakdConfig

    for cls in (LeadConfig, MakdConfig):
        with pytest.raises(ConfigError) as err:
            cls(llm_options={"api_key_env": KEY})
        assert KEY not in str(err.value) and "api_key_env" in str(err.value)
        assert cls(llm_options={"api_key_env": "DEEPSEEK_API_KEY"}).llm_options["api_key_env"] == "DEEPSEEK_API_KEY"
