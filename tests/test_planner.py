"""The memory planner against a line-by-line transcription of TFLM's GreedyMemoryPlanner, the
live-set lower bound, and a brute-force optimum."""

import itertools
import random

import pytest

from tinyml_cli.estimate.planner import live_lower_bound, plan_offsets, planned_size


def tflm_greedy(buffers):
    """TFLM greedy_memory_planner.cc CalculateOffsetsIfNeeded, transcribed: ids filled from the tail,
    bubble-sorted by size descending, each placed after walking the offset-sorted list of placed
    buffers and skipping those not simultaneously active."""
    n = len(buffers)
    sizes_sorted, ids_sorted = [0] * n, [0] * n
    tail = n
    for i, (size, _, _) in enumerate(buffers):
        tail -= 1
        sizes_sorted[tail], ids_sorted[tail] = size, i
    swapped = True
    while swapped:                                     # ReverseSortInPlace
        swapped = False
        for i in range(1, n):
            if sizes_sorted[i - 1] < sizes_sorted[i]:
                sizes_sorted[i - 1], sizes_sorted[i] = sizes_sorted[i], sizes_sorted[i - 1]
                ids_sorted[i - 1], ids_sorted[i] = ids_sorted[i], ids_sorted[i - 1]
                swapped = True
    offsets = [-1] * n
    entries = []                                       # [offset, buffer id], kept in offset order
    for buffer_id in ids_sorted:
        size, first, last = buffers[buffer_id]

        def next_active(start):
            for k in range(start, len(entries)):
                _, other = entries[k]
                _, f, l = buffers[other]
                if not (f > last or l < first):
                    return k
            return None

        candidate, prior = 0, None
        while True:
            nxt = next_active(0 if prior is None else prior + 1)
            if prior is not None:
                off, other = entries[prior]
                candidate = max(candidate, off + buffers[other][0])
            if nxt is None:
                break
            if entries[nxt][0] - candidate >= size:
                break
            prior = nxt
        offsets[buffer_id] = candidate
        position = next((k for k, (off, _) in enumerate(entries) if off > candidate), len(entries))
        entries.insert(position, (candidate, buffer_id))
    return offsets


def first_fit_in_order(buffers, order):
    """Arena size when buffers are placed first-fit in ``order``."""
    placed, top = [], 0
    for i in order:
        size, first, last = buffers[i]
        candidate = 0
        for off, end in sorted((o, e) for o, e, f, l in placed if not (f > last or l < first)):
            if off - candidate >= size:
                break
            candidate = max(candidate, end)
        placed.append((candidate, candidate + size, first, last))
        top = max(top, candidate + size)
    return top


def brute_force_optimum(buffers):
    """The least arena any placement needs. Placing the buffers of an optimal layout first-fit in
    the order of their offsets never moves one up, so the best order reaches the optimum."""
    return min(first_fit_in_order(buffers, p) for p in itertools.permutations(range(len(buffers))))


def random_buffers(rnd, n, steps):
    out = []
    for _ in range(n):
        first = rnd.randrange(steps)
        out.append((rnd.randint(1, 12) * 16, first, min(steps - 1, first + rnd.randint(0, 2))))
    return out


def test_matches_tflm_transcription_on_random_lifetimes():
    rnd = random.Random(7)
    for _ in range(300):
        buffers = random_buffers(rnd, rnd.randint(1, 25), rnd.randint(1, 12))
        assert plan_offsets(buffers) == tflm_greedy(buffers), buffers


def test_plan_never_overlaps_and_never_beats_the_live_set():
    rnd = random.Random(8)
    for _ in range(300):
        buffers = random_buffers(rnd, rnd.randint(1, 20), rnd.randint(1, 10))
        offsets = plan_offsets(buffers)
        for (oa, (sa, fa, la)), (ob, (sb, fb, lb)) in itertools.combinations(zip(offsets, buffers), 2):
            if not (fa > lb or la < fb):
                assert oa + sa <= ob or ob + sb <= oa
        peak = planned_size(buffers)
        assert peak >= live_lower_bound(buffers)
        # brute-force live set: the largest sum alive at one step
        steps = max(l for _, _, l in buffers) + 1
        assert live_lower_bound(buffers) == max(
            sum(s for s, f, l in buffers if f <= t <= l) for t in range(steps))


def test_greedy_is_never_better_than_the_optimum():
    rnd = random.Random(9)
    for _ in range(40):
        buffers = random_buffers(rnd, rnd.randint(2, 6), 5)
        assert planned_size(buffers) >= brute_force_optimum(buffers) >= live_lower_bound(buffers)


@pytest.mark.parametrize("seed", range(20))
def test_greedy_is_optimal_on_chains_of_shrinking_tensors(seed):
    # A CNN without skips whose activations shrink layer after layer: first fit ping-pongs the
    # tensors between the two ends of the arena and reaches the brute-force optimum.
    rnd = random.Random(seed)
    n = rnd.randint(2, 6)
    sizes = sorted(rnd.sample(range(1, 60), n), reverse=True)
    buffers = [(16 * s, max(t - 1, 0), min(t, n - 2)) for t, s in enumerate(sizes)]
    assert planned_size(buffers) == brute_force_optimum(buffers) == live_lower_bound(buffers)


def test_greedy_can_lose_to_the_optimum():
    # Equal sizes tie-break by the later buffer first, which strands the middle one: the planner
    # needs more than the best layout, as TFLM does.
    buffers = [(80, 0, 0), (48, 0, 1), (48, 1, 2), (48, 2, 2)]
    assert tflm_greedy(buffers) == plan_offsets(buffers)
    assert planned_size(buffers) > brute_force_optimum(buffers) == live_lower_bound(buffers)


def test_planned_size_is_the_top_of_the_transcribed_plan():
    rnd = random.Random(10)
    for _ in range(200):
        buffers = random_buffers(rnd, rnd.randint(1, 30), rnd.randint(1, 15))
        offsets = tflm_greedy(buffers)
        assert planned_size(buffers) == max(o + size for o, (size, _, _) in zip(offsets, buffers))
    assert planned_size([]) == 0 and plan_offsets([]) == []
