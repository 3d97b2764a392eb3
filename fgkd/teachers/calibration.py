"""Is a teacher worth distilling from? Zero-shot accuracy and entropy on the world's target classes.

LEAD needs a teacher that is informative but imperfect on the target classes (its student can
only gain where the teacher knows something) and whose uncertainty tracks its errors: the KD
weight w_kd = 1 - H^2 trusts confident predictions. For each world domain this module measures,
on the target classes' test images (classes the teacher never saw) against one LLM description
per class:

- zero-shot top-1 (chance is 1 / C);
- mean normalised entropy H of p_t = softmax(f . P^T / T) on right and on wrong predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from fgkd.teachers.clip import ClipTeacher


@dataclass(frozen=True)
class CalibrationSpec:
    """Which images and descriptions a teacher is calibrated on."""

    world_seed: int = 0  # must be the world the embedded teachers were pre-trained on
    image_size: int = 32  # render size of the test images (the teacher's preprocess resizes)
    num_classes: int = 20  # target classes per domain (chance = 1 / num_classes)
    split: str = "test"
    llm: str = "template"  # description backend (fgkd.llm.get_llm)
    max_words: int = 70  # LEAD's description length
    temperature: float = 0.02  # T of p_t (LEAD's; the embedded params use 0.1); top-1 does not depend on it

    def __post_init__(self) -> None:
        if not isinstance(self.temperature, (int, float)) or isinstance(self.temperature, bool) or self.temperature <= 0:
            raise ValueError(f"CalibrationSpec.temperature must be a number > 0, got {self.temperature!r}")
        if self.split not in ("train", "test"):
            raise ValueError(f"CalibrationSpec.split must be 'train' or 'test' (target classes), got {self.split!r}")
        for name in ("image_size", "num_classes", "max_words"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"CalibrationSpec.{name} must be an int >= 2, got {value!r}")


def domain_descriptions(world: Any, spec: CalibrationSpec) -> list[str]:
    """One description per target class, in class-index order, from ``spec.llm``."""
    from fgkd.llm import get_llm

    options = {"world": world} if spec.llm == "template" else {}
    described = get_llm(spec.llm, **options).describe(world.class_names, max_words=spec.max_words)
    return [described[name] for name in world.class_names]


def calibrate(teacher: ClipTeacher, domain: str, spec: CalibrationSpec = CalibrationSpec()) -> dict[str, Any]:
    """Zero-shot top-1 and mean entropy (right / wrong) of ``teacher`` on one domain's target classes."""
    from fgkd.data.world import World, WorldConfig

    world = World(WorldConfig(domain=domain, num_classes=spec.num_classes, image_size=spec.image_size, seed=spec.world_seed))
    data = world.split(spec.split)
    stats = teacher.zero_shot(data.images, data.labels, domain_descriptions(world, spec), spec.temperature)
    return {"teacher": teacher.name, "domain": domain, "chance": 1.0 / spec.num_classes,
            "temperature": spec.temperature, **stats}


def calibration_table(
    teachers: Sequence[ClipTeacher], domains: Sequence[str], spec: CalibrationSpec = CalibrationSpec()
) -> list[dict[str, Any]]:
    """:func:`calibrate` for every teacher and domain."""
    return [calibrate(t, d, spec) for t in teachers for d in domains]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The table as fixed-width text: teacher, domain, top-1, chance, H right, H wrong."""
    lines = [f"{'teacher':<12} {'domain':<9} {'top-1':>6} {'chance':>6} {'H right':>8} {'H wrong':>8}"]
    for r in rows:
        lines.append(
            f"{r['teacher']:<12} {r['domain']:<9} {100 * r['top1']:>5.1f}% {100 * r['chance']:>5.1f}% "
            f"{r['entropy_right']:>8.3f} {r['entropy_wrong']:>8.3f}"
        )
    return "\n".join(lines)
