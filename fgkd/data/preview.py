"""A picture of the embedded world: sibling classes of every domain side by side.

``render_preview(path)`` writes a PNG grid (matplotlib): for each domain, the species of one genus
(columns) with a few images each (rows), titled by class name and the attributes that set the
species apart from the genus's nominate species. It is meant for a person to check that the
classes are plausible and only subtly different (``fgkd preview`` writes reports/world_preview.png).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from fgkd.data.world import DOMAINS, World, WorldConfig
from fgkd.io import atomic_path


def render_preview(path: str | os.PathLike, image_size: int = 64, seed: int = 0, domains: tuple[str, ...] | None = None,
                   siblings: int = 4, per_class: int = 3) -> Path:
    """Write the preview PNG and return its path.

    Args:
        path: the PNG to write (folders are created).
        image_size: pixels per image side (32 to 224), as the notebooks use them.
        seed: the world seed.
        domains: which domains (default: all of ``DOMAINS``).
        siblings: classes shown per domain (one genus, so they differ in 1-2 attributes).
        per_class: images shown per class.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = tuple(domains) if domains is not None else tuple(DOMAINS)
    if siblings < 2 or per_class < 1:
        raise ValueError(f"render_preview needs siblings >= 2 and per_class >= 1, got {siblings}, {per_class}.")
    # One row per domain; each class is a group of per_class images with its title over the group.
    cols = siblings * per_class
    fig, axes = plt.subplots(len(domains), cols, figsize=(1.3 * cols, 1.9 * len(domains) + 0.4), squeeze=False,
                             gridspec_kw={"wspace": 0.05, "hspace": 0.55})
    for d, domain in enumerate(domains):
        world = World(WorldConfig(domain=domain, num_classes=siblings, image_size=image_size, seed=seed,
                                  species_per_genus=max(siblings, 2)))
        classes = world.classes[:siblings]
        shots = world.render_examples([c.index for c in classes], per_class=per_class, seed=seed)
        nominate = classes[0]
        for j, cls in enumerate(classes):
            changed = [f"{k}={v}" for k, v in cls.values.items()
                       if v != nominate.values[k] and not world.domain.attribute(k).context]
            title = cls.name + "\n" + (", ".join(changed) if changed else "(genus base)")
            for i in range(per_class):
                ax = axes[d, j * per_class + i]
                ax.imshow(shots.images[j * per_class + i], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == per_class // 2:
                    ax.set_title("\n".join(textwrap.wrap(title, 14 * per_class)), fontsize=7)
        axes[d, 0].set_ylabel(f"{domain}\n({DOMAINS[domain].analogue})", fontsize=8)
    fig.suptitle(f"fgkd world: {siblings} sibling classes of one genus per domain ({image_size} px, seed {seed})",
                 fontsize=10)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
