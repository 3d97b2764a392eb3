"""LEAD's experiment grids: one function per table or figure of LEAD's supplement.

Every LEAD notebook starts from the same :class:`Recipe` (``params/<set>/lead.yaml``, read by
``recipe_from(globals())``; each recipe key is set in one file of its set), so the base run of one notebook is the
base run of every other: lead_main's world:bird LEAD run is Table 1's first LLM, Table 2's 70 words,
Table 3's default teacher and Table 4's 0 % removal, and the run store (keyed by config hash)
trains it once. A grid changes only the field its table is about::

    recipe = Recipe(...)                                  # or recipe_from(globals()) in a notebook
    base = recipe.config("world:bird")                    # LeadConfig, method "lead"
    grid = word_removal_grid(base, (0, 20, 40, 60, 80))   # {removal %: LeadConfig}
    table = run_table(grid, "removal_pct")                # trains what is missing; one row per arm

Tables are tidy pandas DataFrames indexed like ``fgkd.reference.paper_table`` (so
``fgkd.report.side_by_side`` lines them up) with LEAD's metrics as columns (:data:`METRICS`:
linear-probe Top-1/Top-5, retrieval R-1/R-5/mAP, percent). The verdict functions turn a table into
one sentence saying whether the paper's direction holds at this scale, computed from the numbers.

Modules: ``recipe`` (the shared recipe), ``grids`` (one per table), ``tables`` (runs into rows),
``verdicts``, ``figures`` (Figures 4-5, Table 6); shared pieces come from ``fgkd.experiments.common``.

Figures 4 and 5 need more than a run's metrics; they are built here from public pieces:
:func:`tsne_frame` (scikit-learn's TSNE on a run's cached test features) and
:func:`entropy_examples` (the teacher's distribution p_t on the test images, its normalised
entropy H, LEAD's weights ``(w_cl, w_kd) = (H^2, 1 - H^2)`` and the student's own prediction
``argmax softmax(q . P^T / T)`` over the same prototypes P).
"""

from fgkd.experiments.common import (  # noqa: F401
    PER_SEED,
    SD,
    Verdict,
    changed_fields,
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
from fgkd.experiments.lead.recipe import (  # noqa: F401
    METRICS,
    RUN_KEYS,
    BENCHMARKS,
    COARSE,
    METHOD_LABELS,
    Recipe,
    recipe_from,
    teacher_embed_dim,
    teacher_options,
    embedded_teachers,
    llm_options,
    benchmark,
)
from fgkd.experiments.lead.grids import (  # noqa: F401
    describe_method,
    method_grid,
    main_grid,
    llm_grid,
    text_length_grid,
    word_removal_grid,
    teacher_grid,
    num_categories_grid,
    num_images_grid,
    num_classes,
)
from fgkd.experiments.lead.tables import (  # noqa: F401
    metrics_row,
    get_runs,
    run_table,
    kit_columns,
    truncated_share,
    init_table,
    evaluate_untrained,
    base_curve,
    student_init,
    student_init_curve,
)
from fgkd.experiments.lead.verdicts import (  # noqa: F401
    verdict_beats,
    verdict_trend,
    verdict_best,
    verdict_close,
)
from fgkd.experiments.lead.figures import (  # noqa: F401
    cached_tsne,
    separation,
    separation_table,
    tsne_frame,
    EntropyExamples,
    teacher_test_outputs,
    teacher_zero_shot,
    entropy_examples,
    pick_entropy_examples,
    entropy_summary,
    description_examples,
    description_lengths,
)
