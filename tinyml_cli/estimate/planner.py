"""TensorFlow Lite Micro's GreedyMemoryPlanner, replayed in Python, and the live-set lower bound.

A buffer is ``(size, first, last)``: its byte size and the first and last operator index during
which it must stay alive (inclusive). The planner takes buffers from the largest to the smallest
(ties: the later-added buffer first, as TFLM's bubble sort over a reversed list leaves them), and puts
each at the lowest offset where it fits between the already placed buffers whose lifetimes overlap
its own (first fit). The arena needs ``max(offset + size)``.

>>> buffers = [(100, 0, 1), (50, 1, 2), (100, 2, 3)]
>>> plan_offsets(buffers), planned_size(buffers), live_lower_bound(buffers)
([0, 100, 0], 150, 150)
"""

from __future__ import annotations

from typing import Sequence

Buffer = tuple[int, int, int]


def plan_offsets(buffers: Sequence[Buffer]) -> list[int]:
    """Offsets TFLM's greedy first-fit planner gives ``buffers`` (in the order given)."""
    return _place(buffers)[0]


def planned_size(buffers: Sequence[Buffer]) -> int:
    """Bytes the greedy plan needs: the highest ``offset + size``."""
    return _place(buffers)[1]


def _place(buffers: Sequence[Buffer]) -> tuple[list[int], int]:
    """The greedy plan: every buffer's offset, and the highest ``offset + size``.

    TFLM walks all placed buffers in offset order and skips those not alive at the same time; here
    each operator step keeps the placed buffers alive during it, so only those are gathered and
    sorted. The walk, and so every offset, is the same (buffers at equal offsets give the same gaps
    in any order). Fast paths for the two lifetimes that make up most of a network: a tensor written
    at one step and read at the next, and a kernel's scratch buffer alive at one step.
    """
    if not buffers:
        return [], 0
    sizes = [b[0] for b in buffers]
    placed_at: list[list[tuple[int, int]]] = [[] for _ in range(max([b[2] for b in buffers]) + 1)]
    offsets = [0] * len(buffers)
    top = 0
    # largest first; ties: the later buffer first (a stable sort of the reversed indices)
    for i in sorted(range(len(buffers) - 1, -1, -1), key=sizes.__getitem__, reverse=True):
        size, first, last = buffers[i]
        if first + 1 == last:                          # most tensors: written, then read once
            here, there = placed_at[first], placed_at[last]
            neighbours = here + there
            neighbours.sort()
        elif first == last:                            # a kernel's scratch buffer
            here = there = placed_at[first]
            neighbours = sorted(here) if len(here) > 1 else here
        else:
            here = there = None
            neighbours = sorted([e for t in range(first, last + 1) for e in placed_at[t]])
        candidate = 0
        for offset, end in neighbours:
            if offset - candidate >= size:
                break                                  # the gap before this buffer is big enough
            if end > candidate:
                candidate = end
        offsets[i] = candidate
        end = candidate + size
        if end > top:
            top = end
        entry = (candidate, end)
        if here is None:
            for t in range(first, last + 1):
                placed_at[t].append(entry)
        else:
            here.append(entry)
            if there is not here:
                there.append(entry)
    return offsets, top


def live_lower_bound(buffers: Sequence[Buffer]) -> int:
    """The largest sum of sizes alive at one operator: no placement can need less."""
    if not buffers:
        return 0
    steps = max(b[2] for b in buffers) + 1
    live = [0] * (steps + 1)
    for size, first, last in buffers:
        live[first] += size
        live[last + 1] -= size
    best = running = 0
    for delta in live:
        running += delta
        best = max(best, running)
    return best
