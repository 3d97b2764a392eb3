import json

import pytest

from fgkd.config import ConfigError
from fgkd.methods import IbotConfig, LeadConfig, MakdConfig, MocoConfig, SimclrConfig, config_from_dict, scale_milestones


def test_paper_defaults():
    lead = LeadConfig()
    assert (lead.batch_size, lead.lr, lead.momentum, lead.weight_decay) == (64, 0.03, 0.9, 1e-4)
    assert (lead.moco_momentum, lead.queue_size, lead.epochs, lead.image_size) == (0.999, 65536, 100, 224)
    assert lead.max_words == 70 and lead.schedule == "cosine" and lead.backbone == "resnet50"
    makd = MakdConfig()
    assert (makd.lr, makd.momentum, makd.weight_decay, makd.batch_size, makd.epochs) == (0.01, 0.9, 5e-4, 16, 240)
    assert makd.lr_milestones == (150, 180, 210) and makd.gamma == 0.1 and makd.n_generate == 100


def test_unknown_key_names_the_key_and_the_allowed_keys():
    with pytest.raises(ConfigError) as err:
        LeadConfig.from_dict({"epoch": 3})
    message = str(err.value)
    assert "'epoch'" in message and "allowed keys" in message and "epochs" in message


@pytest.mark.parametrize("key, value", [("epochs", "3"), ("epochs", 2.5), ("epochs", True), ("lr", "0.1"),
                                        ("amp", 1), ("dataset_options", [1]), ("dataset", 3)])
def test_wrong_types_are_rejected_with_the_key(key, value):
    with pytest.raises(ConfigError, match=f"LeadConfig.{key} must be"):
        LeadConfig.from_dict({key: value})


def test_int_is_accepted_for_float_and_list_for_tuple():
    cfg = MakdConfig.from_dict({"lr": 1, "epochs": 8, "milestones": [4, 6]})
    assert isinstance(cfg.lr, float) and cfg.milestones == (4, 6)


@pytest.mark.parametrize("cls, changes, needle", [
    (LeadConfig, {"weighting": "softmax"}, "weighting"),
    (LeadConfig, {"teacher_mode": "lazy"}, "teacher_mode"),
    (LeadConfig, {"max_words": 80}, "max_words"),
    (LeadConfig, {"word_removal": 1.0}, "word_removal"),
    (LeadConfig, {"queue_size": 8, "batch_size": 16}, "queue_size"),
    (LeadConfig, {"batch_size": 1}, "batch_size"),
    (LeadConfig, {"device": "tpu"}, "device"),
    (LeadConfig, {"teacher_options": {"device": "cuda"}}, "teacher_options"),
    (MakdConfig, {"aspect_loss": "mse"}, "aspect_loss"),
    (MakdConfig, {"targets": "noise"}, "targets"),
    (MakdConfig, {"num_aspects": 60}, "num_aspects"),
    (MakdConfig, {"train_fraction": 0.0}, "train_fraction"),
    (MakdConfig, {"epochs": 10, "milestones": [5, 12]}, "milestones"),
    (MakdConfig, {"milestones": [180, 150]}, "milestones"),
    (MakdConfig, {"dataset_options": {"fraction": 0.5}}, "train_fraction"),
])
def test_invalid_values_name_the_field(cls, changes, needle):
    with pytest.raises(ConfigError, match=needle):
        cls(**changes)


def test_kd_teacher_is_validated_as_a_config():
    with pytest.raises(ConfigError, match="kd_teacher"):
        MakdConfig(kd_teacher={"epoch": 1})
    with pytest.raises(ConfigError, match="same dataset"):
        MakdConfig(kd_teacher=MakdConfig(dataset="dtd").to_dict())
    with pytest.raises(ConfigError, match="image_size"):
        MakdConfig(kd_teacher=MakdConfig(image_size=32).to_dict())


def test_round_trip_through_json():
    for cfg in (LeadConfig(dataset="world:bird", dataset_options={"num_classes": 8}),
                MakdConfig(epochs=8, kd_teacher=MakdConfig(backbone="resnet34", alpha=0.0).to_dict())):
        again = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg and again.config_hash() == cfg.config_hash()


def test_hash_ignores_runtime_fields_only():
    cfg = LeadConfig()
    runtime = cfg.replace(device="cpu", num_workers=0, progress=False, amp=False, channels_last=False,
                          data_root="/data")
    assert runtime.config_hash() == cfg.config_hash()
    for change in ({"lr": 0.02}, {"seed": 1}, {"beta": 1.0}, {"dataset_options": {"num_classes": 8}}):
        assert cfg.replace(**change).config_hash() != cfg.config_hash()


def test_hash_ignores_fields_the_method_does_not_read():
    # MoCo v2 has no teacher fields at all; its hash differs from LEAD's through "method" and them
    assert MocoConfig().config_hash() != LeadConfig().config_hash()
    assert "teacher" not in MocoConfig.field_names() and "beta" not in MocoConfig.field_names()
    base = MakdConfig(alpha=0.0)  # the CE baseline has no aspects, questions or scorer
    assert base.replace(num_aspects=10, scorer="clip", targets="random").config_hash() == base.config_hash()
    assert MakdConfig(num_aspects=10).config_hash() != MakdConfig(num_aspects=20).config_hash()


def test_teacher_run_is_hashed_by_its_own_hash():
    teacher = MakdConfig(backbone="resnet34", alpha=0.0)
    a = MakdConfig(kd_teacher=teacher.to_dict())
    b = MakdConfig(kd_teacher=teacher.replace(device="cpu", num_workers=0).to_dict())
    assert a.config_hash() == b.config_hash()
    assert a.hash_dict()["kd_teacher"] == teacher.config_hash()


def test_scale_milestones_keeps_fractions():
    assert scale_milestones(240) == (150, 180, 210)
    assert scale_milestones(8) == (5, 6, 7)
    assert scale_milestones(24) == (15, 18, 21)
    assert scale_milestones(1) == ()
    assert all(1 <= m < 3 for m in scale_milestones(3))
    # None follows the epochs, also after replace()
    assert MakdConfig(epochs=8).replace(epochs=16).lr_milestones == (10, 12, 14)
    assert MakdConfig(milestones=[150, 180, 210]).config_hash() == MakdConfig().config_hash()


def test_config_from_dict_needs_the_method_or_family():
    assert isinstance(config_from_dict({"family": "makd", "epochs": 8}), MakdConfig)
    assert isinstance(config_from_dict({"family": "lead"}), LeadConfig)
    assert isinstance(config_from_dict({"family": "lead", "method": "moco", "epochs": 8}), MocoConfig)
    assert isinstance(config_from_dict({"method": "ibot"}), IbotConfig)
    with pytest.raises(ConfigError, match="family"):
        config_from_dict({"epochs": 8})
    with pytest.raises(ConfigError, match="method"):
        config_from_dict({"method": "byol"})
    # a run's config.json (record()) reads back as the same run
    for cfg in (MocoConfig(epochs=3), SimclrConfig(), MakdConfig(alpha=0.0), LeadConfig(word_removal=0.2)):
        assert config_from_dict(cfg.record()) == cfg


def test_configs_are_frozen_and_hashable():
    cfg = LeadConfig(dataset_options={"num_classes": 4})
    with pytest.raises(Exception):
        cfg.lr = 1.0
    assert hash(cfg) == hash(LeadConfig(dataset_options={"num_classes": 4}))


def test_an_embedded_teachers_recipe_is_part_of_the_run_hash(monkeypatch):
    import fgkd.teachers.embedded as embedded

    lead = LeadConfig(teacher="embedded-M")
    scorer_m = MakdConfig(scorer="clip", scorer_options={"teacher": "embedded-M"})
    scorer_default = MakdConfig(scorer="clip")  # ClipAspectScorer's default teacher, embedded-L
    zero_shot = MakdConfig(scorer="oracle", mllm_kd_weight=1.0, mllm_teacher="embedded-M")
    before = [c.config_hash() for c in (lead, scorer_m, scorer_default, zero_shot)]
    assert lead.hash_dict()["teacher_key"] == embedded.embedded_config("embedded-M").key
    assert scorer_default.hash_dict()["scorer_teacher_key"] == embedded.embedded_config("embedded-L").key

    assert lead.replace(teacher_options={"epochs": 3}).hash_dict()["teacher_key"] == \
        embedded.embedded_config("embedded-M", epochs=3).key
    # Loading keywords do not make another teacher; a training override (batch_size) does.
    assert embedded.teacher_identity("embedded-M", {"device": "cpu", "progress": False}) == \
        lead.hash_dict()["teacher_key"]
    assert embedded.teacher_identity("embedded-M", {"batch_size": 64}) == \
        embedded.embedded_config("embedded-M", batch_size=64).key != lead.hash_dict()["teacher_key"]
    assert scorer_m.replace(scorer_options={"teacher": "embedded-M", "batch_size": 7}).hash_dict()[
        "scorer_teacher_key"] == scorer_m.hash_dict()["scorer_teacher_key"]

    # A new default recipe of the embedded teachers gives every run that uses them a new hash.
    monkeypatch.setattr(embedded, "_IDENTITY_MEMO", {})
    monkeypatch.setitem(embedded._DEFAULT_EPOCHS, "embedded-M", 99)
    monkeypatch.setitem(embedded._DEFAULT_EPOCHS, "embedded-L", 99)
    after = [c.config_hash() for c in (lead, scorer_m, scorer_default, zero_shot)]
    assert all(a != b for a, b in zip(before, after))


def test_a_new_clip_scoring_rule_gives_clip_scored_runs_a_new_hash(monkeypatch):
    from fgkd.teachers import clip

    scored, oracle, base = MakdConfig(scorer="clip"), MakdConfig(scorer="oracle"), MakdConfig(alpha=0.0, scorer="clip")
    before = [c.config_hash() for c in (scored, oracle, base)]
    monkeypatch.setattr(clip, "CLIP_SCORER_VERSION", clip.CLIP_SCORER_VERSION + 1)
    after = [c.config_hash() for c in (scored, oracle, base)]
    assert after[0] != before[0] and after[1:] == before[1:]


def test_pretrained_and_unused_teachers_add_no_teacher_key():
    assert "teacher_key" not in LeadConfig(teacher="ViT-B-16/openai").hash_dict()
    assert "teacher_key" not in MocoConfig().hash_dict()
    assert "scorer_teacher_key" not in MakdConfig(alpha=0.0, scorer="clip").hash_dict()
    assert "scorer_teacher_key" not in MakdConfig(scorer="clip", targets="random").hash_dict()
