"""Windows and reductions, timed per element they read: ``pool`` (AVERAGE_POOL_2D, MAX_POOL_2D),
``reduce`` (MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD; any axes, ``keep_dims``) and ``softmax``
(SOFTMAX, LOG_SOFTMAX). No MACs.

TFLM's reduce kernel (reference on every platform, micro/kernels/reduce_common.cc) requests a 4-D
index and the resolved axes (an int each) and, for an integer MEAN or SUM, an int32 sum per output
element.

>>> from tinyml_cli.ops.base import OpView
>>> from tinyml_cli.tflite.model import Tensor
>>> t = lambda shape, dtype="int8", constant=False: Tensor(0, "t", shape, dtype, constant, False, 1)
>>> REDUCE.costs(OpView("MEAN", (t((1, 4, 4, 8)), t((2,), "int32", True)), (t((1, 8)),), {}), "host")
Costs(macs=None, elements=128, cycle_class='mean', scratch=(16, 8, 32), persistent=0, element_class='mean')
"""

from __future__ import annotations

from .base import Costs, OpKind, OpView
from .elementwise import _timed_as, read_elements

INDEX_BYTES = 4 * 4            # the kernel's 4-D index
AXES_BYTES = 2 * 4             # the resolved axes
SUM_BYTES = 4                  # an int32 sum per output element (integer MEAN / SUM)


def reduce_costs(view: OpView, runtime: str) -> Costs:
    """The elements read; scratch: index, axes and (integer MEAN / SUM) the int32 sums."""
    sums = view.out.numel * SUM_BYTES if view.builtin in ("MEAN", "SUM") and view.out.dtype in ("int8", "int16") else 0
    scratch = tuple(size for size in (INDEX_BYTES, AXES_BYTES, sums) if size)
    return Costs(None, read_elements(view), "mean", scratch, element_class="mean")


POOL = OpKind("pool", ("AVERAGE_POOL_2D", "MAX_POOL_2D"), "AddAveragePool2D", _timed_as("avg_pool"))
REDUCE = OpKind("reduce", ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"), "AddMean", reduce_costs)
SOFTMAX = OpKind("softmax", ("SOFTMAX", "LOG_SOFTMAX"), "AddSoftmax", _timed_as("softmax"))
