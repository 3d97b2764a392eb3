"""Write constraints.txt: the exact versions of fgkd's dependencies (and theirs) installed in this
environment, so a fresh machine a month later installs the same ones (``make install`` passes it to
pip with ``-c``). Run after a tested upgrade: ``make lock``.

torch, torchvision and their CUDA/triton wheels are left out: the Makefile installs them first from
``TORCH_SPEC``, which differs per machine kind (a CUDA build on x86_64, a CPU build on aarch64).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
FROM_TORCH_SPEC = re.compile(r"^(torch|torchvision|triton|nvidia-.*|cuda-.*)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str = "fgkd", extras: tuple[str, ...] = ("dev", "paper")) -> dict[str, str]:
    """``{name: version}`` of every installed distribution ``root[extras]`` needs, transitively."""
    seen: dict[str, str] = {}

    def walk(name: str, wanted: tuple[str, ...] = ()) -> None:
        key = _norm(name)
        if key in seen:
            return
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            return
        seen[key] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *wanted)):
                walk(req.name)

    walk(root, extras)
    seen.pop(_norm(root), None)
    return seen


def main() -> int:
    pins = {k: v for k, v in sorted(closure().items()) if not FROM_TORCH_SPEC.match(k)}
    lines = ["# Versions the test suite ran with (scripts/lock_constraints.py; `make lock` rewrites it).",
             "# torch and torchvision come from the Makefile's TORCH_SPEC, per machine kind."]
    lines += [f"{k}=={v}" for k, v in pins.items()]
    (ROOT / "constraints.txt").write_text("\n".join(lines) + "\n")
    print(f"constraints.txt: {len(pins)} pins", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
