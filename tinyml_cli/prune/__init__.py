"""Structured pruning of a trained candidate (`tinyml prune`): rank channels, cut them out of the
layer graph and the trained weights together, fine-tune, level by level or until a budget is met."""

from .channels import CRITERIA, channel_scores, cut_module, select_channels
from .command import PRUNE_SCHEMA, run_prune
from .plan import least_ratio, pruned_graph, ratio_counts

__all__ = ["CRITERIA", "PRUNE_SCHEMA", "channel_scores", "cut_module", "least_ratio", "pruned_graph",
           "ratio_counts", "run_prune", "select_channels"]
