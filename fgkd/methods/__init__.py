"""Training methods, one file each: its config (a frozen dataclass) and its class.

    moco.py    MoCo v2, LEAD's student without distillation (LEAD Table 5, every LEAD baseline)
    lead.py    LEAD: MoCo v2 distilled from a CLIP teacher over LLM descriptions
    simclr.py  SimCLR (LEAD Table 5)
    ibot.py    the iBOT-style ViT (LEAD Table 5)
    makd.py    MaKD, its CE baseline (alpha = 0) and the KD extensions (MaKD Tables 4 and 6)
    detection.py  MaKD for object detection: Faster R-CNN-FPN with an aspect head (MaKD Table 7)

Pick one by name: ``METHODS["lead"]`` is ``(LeadConfig, LeadMethod)``. A method's dependencies
(teacher, scorer, KD teacher run) are handed to it; ``fgkd.runs`` builds them from the config.
"""

from __future__ import annotations

from typing import Any, Mapping

from fgkd.config import ConfigError
from fgkd.methods.base import RUNTIME_FIELDS, BackboneSSLConfig, RunConfig, SSLConfig, SSLMethod
from fgkd.methods.detection import MakdDetectionConfig, MakdDetectionMethod
from fgkd.methods.ibot import IbotConfig, IbotMethod
from fgkd.methods.lead import LeadConfig, LeadMethod
from fgkd.methods.makd import MakdConfig, MakdMethod, scale_milestones
from fgkd.methods.moco import MocoConfig, MocoMethod
from fgkd.methods.simclr import SimclrConfig, SimclrMethod

METHODS: dict[str, tuple[type[RunConfig], type]] = {
    "moco": (MocoConfig, MocoMethod),
    "lead": (LeadConfig, LeadMethod),
    "simclr": (SimclrConfig, SimclrMethod),
    "ibot": (IbotConfig, IbotMethod),
    "makd": (MakdConfig, MakdMethod),
    "makd_detection": (MakdDetectionConfig, MakdDetectionMethod),
}
SSL_METHODS = ("lead", "moco", "simclr", "ibot")  # LEAD and its Table 5 baselines


def method_class(cfg: RunConfig) -> type:
    """The method class of a config."""
    for config_cls, method_cls in METHODS.values():
        if type(cfg) is config_cls:
            return method_cls
    raise TypeError(f"no method is registered for {type(cfg).__name__}; known: {sorted(METHODS)}")


def make_method(cfg: RunConfig, **dependencies: Any):
    """The method of ``cfg`` with its dependencies handed in (``teacher=``, ``scorer=``...)."""
    return method_class(cfg)(cfg, **dependencies)


def as_method(cfg: SSLConfig, method: str, **changes: Any) -> SSLConfig:
    """The run of another LEAD-family ``method`` with every field ``cfg`` shares with it
    (``as_method(lead_cfg, "moco")`` is LEAD's MoCo v2 baseline: the same data, student and schedule)."""
    if method not in SSL_METHODS:
        raise ConfigError(f"as_method: {method!r} is not a LEAD-family method; choose one of {SSL_METHODS}")
    target = METHODS[method][0]
    values = cfg.to_dict()
    shared = {k: values[k] for k in target.field_names() if k in values}
    return target.from_dict({**shared, **changes})


def config_from_dict(d: Mapping[str, Any]) -> RunConfig:
    """A config from a dict carrying ``"method"`` (or ``"family": "lead" | "makd"``; a LEAD-family
    dict without a method is LEAD), as in a run's ``config.json`` or the CLI's config files."""
    d = dict(d)
    family = d.pop("family", None)
    d.pop("hash", None)
    method = d.pop("method", None) or {"lead": "lead", "makd": "makd"}.get(family)
    if method not in METHODS:
        raise ConfigError(f"the config needs a 'method' key, one of {sorted(METHODS)} (or 'family': lead | makd); "
                          f"got method={method!r}, family={family!r}")
    return METHODS[method][0].from_dict(d)


__all__ = [
    "METHODS", "RUNTIME_FIELDS", "SSL_METHODS", "BackboneSSLConfig", "IbotConfig", "IbotMethod", "LeadConfig",
    "LeadMethod", "MakdConfig", "MakdDetectionConfig", "MakdDetectionMethod", "MakdMethod", "MocoConfig", "MocoMethod", "RunConfig", "SSLConfig", "SSLMethod",
    "SimclrConfig", "SimclrMethod", "as_method", "config_from_dict", "make_method", "method_class",
    "scale_milestones",
]
