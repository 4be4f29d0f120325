"""Each rank's share of a batch: disjoint, equal in size, together the whole batch."""

from __future__ import annotations

import pytest
import torch

from trainworks.engine.batching import derive_seed, epoch_permutation, rank_batches, steps_per_epoch


@pytest.mark.parametrize(("n", "batch", "world"), [(100, 32, 1), (100, 32, 2), (97, 30, 3), (10, 4, 4)])
def test_rank_shares_are_disjoint_equal_and_cover_each_batch(n: int, batch: int, world: int) -> None:
    order = epoch_permutation(n, seed=1, epoch=1)
    per_rank = [list(rank_batches(order, batch, rank, world)) for rank in range(world)]
    assert len({len(batches) for batches in per_rank}) == 1  # every rank steps equally often
    for step_batches in zip(*per_rank):
        assert len({len(b) for b in step_batches}) == 1
        union = torch.cat(step_batches)
        assert len(set(union.tolist())) == len(union)  # disjoint
    seen = torch.cat([torch.cat(batches) for batches in per_rank])
    assert len(seen) >= n - steps_per_epoch(n, batch) * (world - 1)  # only remainders of world_size dropped


def test_global_batches_do_not_depend_on_the_number_of_ranks() -> None:
    order = epoch_permutation(64, seed=0, epoch=3)
    single = list(rank_batches(order, 16, 0, 1))
    pairs = zip(rank_batches(order, 16, 0, 2), rank_batches(order, 16, 1, 2))
    for whole, (first, second) in zip(single, pairs):
        assert sorted(whole.tolist()) == sorted(torch.cat([first, second]).tolist())


def test_permutations_differ_by_epoch_and_repeat_by_seed() -> None:
    assert torch.equal(epoch_permutation(50, 0, 2), epoch_permutation(50, 0, 2))
    assert not torch.equal(epoch_permutation(50, 0, 2), epoch_permutation(50, 0, 3))
    assert len({derive_seed(0, epoch, rank) for epoch in range(20) for rank in range(8)}) == 160
