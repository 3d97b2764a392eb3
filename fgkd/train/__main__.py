"""``python -m fgkd.train --config cfg.json``: train (or find) one run; works under torchrun.

    python -m fgkd.train --config lead.yaml
    torchrun --nproc_per_node 2 -m fgkd.train --config lead.json

The file holds one config as a dict with ``"method"`` (moco, lead, simclr, ibot, makd) or
``"family": "lead" | "makd"`` (or pass ``--family``); a run's ``config.json`` works as it is.
Rank 0 prints the run folder and its metrics as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config dict from a ``.json`` or ``.yaml``/``.yml`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold one mapping of config keys, got {type(data).__name__}")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    from fgkd.runs import get_or_train
    from fgkd.train import ddp
    from fgkd.methods import config_from_dict

    parser = argparse.ArgumentParser(prog="python -m fgkd.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON or YAML file with one run config (fgkd.methods)")
    parser.add_argument("--family", choices=("lead", "makd"), help="config family if the file has no 'family' key")
    args = parser.parse_args(argv)

    data = read_config_file(args.config)
    if args.family is not None:
        data.setdefault("family", args.family)
    cfg = config_from_dict(data)
    info = ddp.init_from_env(cfg.device)
    try:
        run = get_or_train(cfg)
        if info.is_main:
            print(json.dumps({"run": str(run.path), "metrics": run.metrics}, indent=2, default=str))
    finally:
        ddp.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
