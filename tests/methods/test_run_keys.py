"""Run keys are pinned: a user's cache keeps its runs across refactors.

The hashes below were computed by fgkd before the methods were split into one file each (when
LEAD and its baselines shared one ``LeadConfig`` with a ``method`` field, ``moco_dim`` and
``kd_temperature``). A change here means every cached run of that kind would be retrained: only
make it when a field's meaning changes, and say so in the release notes.
"""

import pytest

from fgkd.methods import LeadConfig, MakdConfig, as_method

WORLD = {"num_classes": 20, "image_size": 32, "train_per_class": 30}
# The embedded LEAD recipe's world:bird run (params/embedded), every field that differs from the defaults.
LEAD = dict(dataset="world:bird", dataset_options=WORLD, image_size=32, backbone="resnet18", pretrained=False,
            proj_hidden_dim=512, proj_dim=64, queue_size=1024, moco_momentum=0.99, teacher="embedded-M",
            teacher_mode="cached", llm_backend="template", llm_style="a", beta=1.0, category_temperature=0.1,
            epochs=5, num_workers=0, progress=False)
MAKD = dict(dataset="world:bird", dataset_options={**WORLD, "test_per_class": 50}, image_size=32, llm_backend="template",
            llm_style="a", scorer="clip", scorer_options={"teacher": "embedded-M"}, lr=0.02, batch_size=32, epochs=3,
            num_workers=0, progress=False)


def _lead_family():
    lead = LeadConfig(**LEAD)
    return {"lead": lead, "moco": as_method(lead, "moco"), "simclr": as_method(lead, "simclr"),
            "ibot": as_method(lead, "ibot"), "lead, 40 % words removed": lead.replace(word_removal=0.4)}


def _makd_family():
    ours = MakdConfig(**MAKD)
    teacher = ours.replace(backbone="resnet34", alpha=0.0)
    return {"makd": ours, "makd base": ours.replace(alpha=0.0), "makd random": ours.replace(targets="random"),
            "makd kl": ours.replace(aspect_loss="kl"),
            "makd kd + ours": ours.replace(kd_teacher=teacher.to_dict()),
            "makd mllm kd": ours.replace(alpha=0.0, mllm_kd_weight=1.0)}


PINNED = {
    "lead": "1f28740fc335e0b5",
    "moco": "dd4be6ab7107f972",
    "simclr": "5005ce03059ed9b0",
    "ibot": "5878823fcc79b6e8",
    "lead, 40 % words removed": "2b200c1756a6874e",
    "makd": "e6c3ec1ea629129b",
    "makd base": "6e0fb3f5f2945fe5",
    "makd random": "154cfeb052b86bc4",
    "makd kl": "abae6f432e796ccf",
    "makd kd + ours": "05aa895e2acbe852",
    "makd mllm kd": "f68c80ee6002b4a5",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_run_keys_are_the_ones_users_caches_hold(name):
    configs = {**_lead_family(), **_makd_family()}
    assert configs[name].config_hash() == PINNED[name]


def test_renamed_fields_are_hashed_under_their_stored_names():
    d = LeadConfig(**LEAD).hash_dict()
    assert d["moco_dim"] == 64 and d["kd_temperature"] == 0.1 and d["method"] == "lead"
    assert "proj_dim" not in d and "category_temperature" not in d
