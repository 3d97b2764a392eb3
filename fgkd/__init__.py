"""fgkd: reproducibility kit for LEAD and MaKD (fine-grained representation learning with
knowledge distilled from large models)."""

__version__ = "0.1.0"
