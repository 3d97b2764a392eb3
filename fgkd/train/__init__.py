"""Training: typed configs, one engine and the two methods (LEAD and MaKD).

    >>> from fgkd.train import LeadConfig, MakdConfig
    >>> from fgkd.runs import get_or_train
    >>> run = get_or_train(MakdConfig(dataset="world:bird", ...))

Methods are imported lazily by :func:`fgkd.runs.make_method`, so importing configs stays light.
"""

from fgkd.train.config import (
    ConfigError,
    LeadConfig,
    MakdConfig,
    RUNTIME_FIELDS,
    config_from_dict,
    scale_milestones,
)
from fgkd.train.engine import Method, TrainResult, train

__all__ = [
    "ConfigError",
    "LeadConfig",
    "MakdConfig",
    "Method",
    "RUNTIME_FIELDS",
    "TrainResult",
    "config_from_dict",
    "scale_milestones",
    "train",
]
