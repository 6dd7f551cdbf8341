"""Weight sharing for the ``oneshot`` and ``differentiable`` backends: one network whose slices are
every architecture of an mbnet space.

- :mod:`.supernet`: the elastic supernet (kernel, expand ratio, depth, width) and subnet extraction;
- :mod:`.relaxed`: its Gumbel-softmax relaxation with differentiable resource costs, and the repair
  that makes a derived architecture fit;
- :mod:`.costs`: the estimator's verdicts, cached per architecture;
- :mod:`.training`: TinyNAS shrinking, sandwich-rule supernet training, scoring with inherited
  weights and fine-tuning.

The network's layout comes from :mod:`tinyml_cli.arch.mbnet` and every network is trained through
:mod:`tinyml_cli.train.loop`, so ``train.optimizer``, ``lr``, ``weight_decay``, ``schedule``,
``label_smoothing``, ``device`` and ``threads`` apply as they do to any training. Nothing here knows
about backends, studies or trials.
"""

from .costs import CostModel
from .relaxed import RelaxedSupernet, repair, train_relaxed
from .supernet import Supernet, recalibrate_bn
from .training import Fits, finetune, inherited_accuracy, sample_fitting, shrink_space, train_supernet

__all__ = ["CostModel", "Fits", "RelaxedSupernet", "Supernet", "finetune", "inherited_accuracy", "recalibrate_bn",
           "repair", "sample_fitting", "shrink_space", "train_relaxed", "train_supernet"]
