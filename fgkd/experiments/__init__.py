"""Experiment grids behind the notebooks: each function builds run configs for one table or figure,
gets the runs from the run store (training only what is missing) and returns tidy tables.

Notebooks call these and plot; they hold no training or metric logic of their own.
"""
