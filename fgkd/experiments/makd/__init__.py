"""MaKD's experiment grids: the runs behind each table and figure of the paper, as tidy tables.

Every MaKD notebook builds one :class:`Recipe` from its set's shared ``params/<set>/makd.yaml``
(``recipe_from(globals())``, so a run two notebooks need is trained once: same config, same hash), asks a grid
function for the :class:`~fgkd.methods.MakdConfig` variants of its table, and hands the grid to
:func:`run_table`, which trains what the run store lacks (``fgkd.runs.get_or_train``) and returns
one row per grid point::

    recipe = makd.recipe_from(globals())             # the notebook's parameters
    grid = makd.main_grid(recipe, ["world:bird"], ["resnet18", "resnet34"])
    runs = makd.run_table(grid)                      # index (dataset, backbone, method), top1...
    table = makd.gap_table(runs)                     # Base, Ours, Gap per (dataset, backbone)

Each grid changes exactly the fields its table varies and nothing else (the tests check this):

- :func:`main_grid` (Tables 1-2): ``alpha = 0`` ("Base", plain cross-entropy) vs the recipe's MaKD.
- :func:`ablation_grid` (Table 3): ``aspect_loss`` (a), ``targets`` (b), ``alpha`` (c), and the
  question writer / P(yes) scorer (d) via :func:`source_grid`.
- :func:`aspect_count_grid` (Figure 2): ``num_aspects`` Q, a prefix of one ranked question list.
- :func:`fraction_grid` (Table 5): ``train_fraction``.
- :func:`kd_grid` (Tables 4 and 6): ``mllm_kd_weight`` (zero-shot class logits of the scorer) and
  ``kd_teacher`` (a trained classifier run).
- :func:`detection_grid` (Table 7): Base vs MaKD for Faster R-CNN-FPN (``fgkd.methods.detection``),
  box AP by ``COCOeval``.

The analysis helpers (Figures 3-5, section 5.5) read a finished run's cached test arrays
(``Run.arrays("test")``: class and aspect logits, the scorer's P(yes)) and return arrays or
DataFrames for plotting; :class:`Verdict` states, from the numbers, whether the paper's direction
holds at this scale.

Modules: ``recipe`` (the shared recipe), ``grids`` (one per table), ``tables`` (runs into rows and
the tables beside the paper's), ``verdicts``, ``aspects`` (Figures 3-5), ``detection`` (Table 7); shared pieces come from
``fgkd.experiments.common``.
"""

from fgkd.experiments.common import (  # noqa: F401
    PER_SEED,
    SD,
    Verdict,
    changed_fields,
    check_names,
    long_format,
    mean_columns,
    seed_values,
    split_list,
    subsample,
    summary,
    train_grid,
    tsne_2d,
    with_seed,
)
from fgkd.experiments.makd.recipe import (  # noqa: F401
    BASE,
    OURS,
    WORLD_ANALOGUES,
    llm_options,
    scorer_options,
    Recipe,
    embedded_teachers,
    recipe_from,
)
from fgkd.experiments.makd.grids import (  # noqa: F401
    Grid,
    base_config,
    main_grid,
    loss_grid,
    target_grid,
    alpha_grid,
    Source,
    question_source,
    scorer_source,
    UPPER_BOUND_NOTE,
    oracle_source,
    source_grid,
    ablation_grid,
    ablation_grids,
    aspect_count_grids,
    aspect_count_grid,
    fraction_grid,
    kd_teacher_config,
    kd_grid,
    kd_grids,
)
from fgkd.experiments.makd.tables import (  # noqa: F401
    run_table,
    base_curve,
    gap_table,
    zero_shot_accuracy,
    main_table,
    paper_main,
    align_paper,
    alpha_curve,
    ABLATION_PARTS,
    ablation_views,
    cost_table,
    paper_cost,
    overhead,
)
from fgkd.experiments.makd.verdicts import (  # noqa: F401
    main_verdicts,
    TRAINED_FACTOR,
    chance_top1,
    trained_verdicts,
    beats,
    alpha_drop,
    ablation_verdicts,
    trend,
    trend_verdict,
)
from fgkd.experiments.makd.detection import (  # noqa: F401
    DetectionSettings,
    check_detection_data,
    detection_config,
    detection_examples,
    detection_grid,
    detection_runs,
    detection_table,
    detection_verdicts,
)
from fgkd.experiments.makd.aspects import (  # noqa: F401
    AspectArrays,
    aspect_arrays,
    truth_quality,
    class_mean,
    class_means,
    question_agreement,
    image_examples,
    example_rows,
    paper_examples,
    pick_aspect_examples,
    tsne,
    neighbour_overlap,
    load_images,
)
