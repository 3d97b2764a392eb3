"""fgkd: reproducibility kit for LEAD and MaKD (fine-grained representation learning with
knowledge distilled from large models)."""

import os as _os

__version__ = "0.1.0"

# Deterministic cuBLAS needs a fixed workspace, and cuBLAS reads this variable when CUDA
# initialises: set it here, before any CUDA work of a program that imports fgkd first, unless the
# user chose one (fgkd.determinism.CUBLAS_WORKSPACE_CONFIG holds the same value; not imported here
# so that `import fgkd` stays free of torch).
_os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
