"""sim/lanes.py: the dense-group helpers of the lockstep path."""
from __future__ import annotations

import numpy as np
import pytest

from test_parallel import lanes_of_every_form
from wafersim.sim.lanes import SPARSE_FRACTION, Lanes


def test_lanes_extremes_and_unmasked_writes_keep_non_lanes():
    """Lanes.extremes reduces over the lanes only (and leaves the array as it was); keep_outside and
    restore_outside put back the entries of PEs outside a dense group after an unmasked write."""
    rng = np.random.default_rng(5)
    for lanes, expected in lanes_of_every_form(rng, 60):
        if not lanes.is_dense:
            continue
        values = rng.integers(-50, 50, 60).astype(np.int32)
        before = values.copy()
        assert lanes.extremes(values) == (int(values[expected].min()), int(values[expected].max()))
        np.testing.assert_array_equal(values, before)
        view = lanes.window_view(values)
        kept = lanes.keep_outside(view)
        view += 1000
        lanes.restore_outside(view, kept)
        changed = np.flatnonzero(values != before)
        np.testing.assert_array_equal(changed, expected)


def test_lanes_min_and_max_of_lane_aligned_values_reduce_over_the_lanes_only():
    """Lanes.min / Lanes.max / Lanes.span (both at once) of `lanes.get(values)` (a masked or complement group's
    are every PE of its window) equal plain Python's over the PEs the lanes stand for, in every form and in index
    form; no lanes: inf, -inf."""
    rng = np.random.default_rng(9)
    for lanes, expected in lanes_of_every_form(rng, 60):
        values = rng.standard_normal(60)
        for form in (lanes, lanes.to_index_form(60)):
            aligned = form.get(values)
            least, largest = min(values[expected].tolist()), max(values[expected].tolist())
            assert form.min(aligned) == least
            assert form.max(aligned) == largest
            assert form.span(aligned) == (least, largest)
    none = Lanes(60, idx=np.array([], dtype=np.int64))
    assert (none.min(np.array([])), none.max(np.array([]))) == (np.inf, -np.inf)
    assert none.span(np.array([])) == (np.inf, -np.inf)


@pytest.mark.parametrize("size, seed", [(7, 6), (None, 7)])
def test_chunk_extremes_bound_each_run_of_lanes_and_leave_the_array_as_it_was(size, seed):
    """Runs of `size` window positions, or the whole window (None: one bound)."""
    rng = np.random.default_rng(seed)
    for lanes, expected in lanes_of_every_form(rng, 60):
        if not lanes.is_dense:
            continue
        values = rng.uniform(-5, 5, 60).astype(np.float32)
        before = values.copy()
        span = lanes.n if size is None else size
        base = 0 if lanes.window is None else lanes.window.start
        positions = expected - base  # window positions of the lanes
        for largest in (True, False):
            got = lanes.chunk_extremes(values, largest, size)
            np.testing.assert_array_equal(values, before)
            assert got.dtype == np.float32 and len(got) == (1 if size is None else -(-lanes.n // size))
            for chunk, bound in enumerate(got):
                inside = values[base + positions[(positions >= chunk * span) & (positions < (chunk + 1) * span)]]
                if len(inside) == 0:
                    assert bound == (-np.inf if largest else np.inf)
                else:
                    assert bound == (inside.max() if largest else inside.min())


def test_evenly_spaced_exclusions_index_as_slices_and_others_as_arrays():
    from wafersim.sim.lanes import Lanes

    values = np.arange(40, dtype=np.int32)
    for excl, is_slice in [([5], True), ([3, 10, 17, 24], True), ([2, 3, 9], False), ([], True)]:
        lanes = Lanes(40, excl=np.array(excl, dtype=np.int64))
        assert isinstance(lanes.excl_at, slice) == is_slice
        np.testing.assert_array_equal(values[lanes.excl_at], values[np.array(excl, dtype=np.int64)])
        kept = lanes.keep_outside(values)
        values[:] = -1
        lanes.restore_outside(values, kept)
        np.testing.assert_array_equal(np.flatnonzero(values >= 0), excl)
        values = np.arange(40, dtype=np.int32)


@pytest.mark.parametrize("many", [False, True])
def test_without_many_lanes_of_a_complement_or_full_group_leaves_the_rest(many):
    """`without` of a complement or full group, of a few lanes (merged exclusions) or of more than
    `SPARSE_FRACTION` of the region (a mask, as a whole row pipeline's woken sleepers): the remaining lanes and
    their count, in the form `from_mask` gives them."""
    g = np.random.default_rng(int(many))
    n = 5000
    for whole in (Lanes(n), Lanes.all_but(n, np.sort(g.choice(n, size=37, replace=False)))):
        members = np.flatnonzero(whole.as_mask())
        size = int(n * SPARSE_FRACTION) + 1 if many else 11
        picked = np.sort(g.choice(members, size=size, replace=False))
        rest = whole.without(picked)
        expected = whole.as_mask()
        expected[picked] = False
        np.testing.assert_array_equal(rest.as_mask(), expected)
        assert rest.count == expected.sum()
        assert rest.form == Lanes.from_mask(expected).form
    rest = Lanes(n).without(np.arange(n - 3))  # (nearly all: the index form)
    assert rest.form == "index" and rest.idx.tolist() == [n - 3, n - 2, n - 1]


def test_the_index_form_is_kept_and_the_same_lanes():
    """`to_index_form` of a mask or complement group is made once (a blocked group comes back step after step
    as the same object) and lists the same lanes."""
    n = 64
    for lanes in (Lanes.from_mask(np.arange(n) % 3 != 0), Lanes.all_but(n, np.array([5, 40]))):
        first = lanes.to_index_form(n)
        assert lanes.to_index_form(n) is first
        np.testing.assert_array_equal(first.idx, np.flatnonzero(lanes.as_mask()))
        assert first.count == lanes.count


def test_get_put_apply_and_add_touch_just_the_lanes_of_per_pe_and_two_axis_arrays():
    """Every form (index ones too) reads and writes exactly its lanes, of a per-PE array (one axis: the index
    form's plain gathers and scatters) and of a (rows, PEs) array (the general path), with scalars and 0-d
    arrays among the inputs; NumPy on the lanes' region indices is the reference."""
    rng = np.random.default_rng(11)
    n = 60
    forms = lanes_of_every_form(rng, n)
    picked = np.sort(rng.choice(n, 6, replace=False))
    forms.append((Lanes(n, idx=picked), picked))
    for lanes, expected in forms:
        as_index = lanes.to_index_form(n)  # (get/put of a windowed dense form are window-aligned: compare there)
        for shape in ((n,), (3, n)):
            a = rng.integers(-9, 9, shape).astype(np.int32)
            b = rng.integers(-9, 9, shape).astype(np.int32)
            out = rng.integers(-9, 9, shape).astype(np.int32)
            want = out.copy()
            want[..., expected] = a[..., expected] * b[..., expected] + 0
            lanes.apply(np.multiply, out, a, b)
            np.testing.assert_array_equal(out, want)
            want[..., expected] += 5
            lanes.apply(np.add, out, out, np.int32(5) if shape == (n,) else np.array(5, dtype=np.int32))
            np.testing.assert_array_equal(out, want)
            if lanes.idx is not None:
                np.testing.assert_array_equal(lanes.get(out), want[..., expected])
            np.testing.assert_array_equal(as_index.get(out), want[..., expected])
            as_index.put(out, 0)
            want[..., expected] = 0
            np.testing.assert_array_equal(out, want)
            lanes.put(out, 7)
            want[..., expected] = 7
            np.testing.assert_array_equal(out, want)
        per_pe = rng.integers(-9, 9, n).astype(np.int64)
        want = per_pe.copy()
        want[expected] += 3
        lanes.add(per_pe, 3)
        np.testing.assert_array_equal(per_pe, want)


def test_large_evenly_spaced_index_groups_write_through_slices_with_the_same_results():
    """An index-form group of at least `STRIDED_LANES` evenly spaced lanes (a block's edge column, row) writes
    through a slice (`idx_at`), others through their indices; put, apply (its output one of its inputs too) and
    add change exactly the lanes, as NumPy on the indices does."""
    from wafersim.sim.lanes import STRIDED_LANES

    rng = np.random.default_rng(3)
    width, height = 70, 80  # (edges of at least STRIDED_LANES lanes)
    n = width * height
    column = np.arange(width - 1, n, width)
    row = np.arange(width)
    ragged = np.sort(rng.choice(n, STRIDED_LANES + 5, replace=False))
    few = column[:STRIDED_LANES - 1]
    for idx, strided in ((column, True), (row, True), (ragged, False), (few, False)):
        lanes = Lanes(n, idx=idx)
        assert isinstance(lanes.idx_at, slice) == strided
        a, out = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
        want = out.copy()
        want[idx] = a[idx] * out[idx]
        lanes.apply(np.multiply, out, a, out)
        np.testing.assert_array_equal(out, want)
        values = rng.random(len(idx), dtype=np.float32)
        want[idx] = values
        lanes.put(out, values)
        np.testing.assert_array_equal(out, want)
        want[idx] += np.float32(2.5)
        lanes.add(out, 2.5)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(lanes.get(out), want[idx])


def test_pick_keeps_the_lanes_among_few_or_many_indices_of_every_form():
    """`pick` (event wake-up's filter) of sorted indices, out-of-range ones among them, few (a binary search per
    index) or many (a look-up in the group's mask): the indices that are lanes, as NumPy's intersection has them."""
    rng = np.random.default_rng(12)
    n = 200
    for lanes, expected in lanes_of_every_form(rng, n) + [(Lanes(n, idx=np.array([3, 50, 199])), np.array([3, 50, 199])),
                                                        (Lanes.all_but(n, np.arange(0, n, 7)),
                                                         np.setdiff1d(np.arange(n), np.arange(0, n, 7)))]:
        if lanes.window is not None:
            continue
        for size in (0, 3, 20, 150, n):
            flat = np.unique(rng.integers(-5, n + 5, size))
            got = lanes.pick(flat)
            np.testing.assert_array_equal(got, np.intersect1d(flat, expected))


def test_a_group_and_its_exclusions_merge_into_the_full_region_and_fewer_into_a_complement():
    """`union_disjoint` of a complement group and an index group of all its exclusions is the full region (a
    block's edge row rejoining the rest), of some of them a complement without those; either way round."""
    n = 512
    excluded = np.arange(64, 80)
    rest = Lanes.all_but(n, excluded)
    assert rest.form == "complement"
    for a, b in ((rest, Lanes(n, idx=excluded)), (Lanes(n, idx=excluded), rest)):
        merged = a.union_disjoint(b)
        assert merged.is_full and merged.count == n
    merged = rest.union_disjoint(Lanes(n, idx=excluded[::2]))
    np.testing.assert_array_equal(merged.indices(), np.setdiff1d(np.arange(n), excluded[1::2]))
    assert merged.count == n - 8


def test_all_equal_and_first_over_the_lanes_only_in_every_form():
    """all_equal: the common value of the lanes' entries (NaN never equal), whatever the entries of PEs outside
    the group; first(): the first lane's position, kept (asked twice, a group starting with excluded PEs too);
    shifted_pair: the same pair again for the same offset."""
    rng = np.random.default_rng(11)
    for trial in range(40):
        forms = lanes_of_every_form(rng, 60)
        forms.append((Lanes(60, excl=np.array([0, 1, 2, 9])), np.setdiff1d(np.arange(60), [0, 1, 2, 9])))
        forms.append((Lanes(60, idx=np.array([4, 9, 30])), np.array([4, 9, 30])))
        for lanes, expected in forms:
            values = rng.standard_normal(60).astype(np.float32)
            values[expected] = 2.5
            if trial % 3 == 1:  # one lane differs: by value, or a NaN
                values[rng.choice(expected)] = np.nan if trial % 2 else -2.5
            aligned = values[lanes.idx] if lanes.idx is not None else lanes.window_view(values)
            common = lanes.all_equal(aligned)
            assert (common is None) == (trial % 3 == 1) and (common is None or common == 2.5)
            positions = expected - (lanes.window.start if lanes.window is not None else 0)
            first = 0 if lanes.idx is not None else int(positions[0])
            assert lanes.first() == first and lanes.first() == first
    pair = Lanes(60, excl=np.array([5, 17])).shifted_pair  # (a bound method of one group)
    assert pair(1) is pair(1) and pair(-1) is not pair(1)


def test_split_gives_the_lanes_where_the_condition_holds_and_the_rest_in_every_form():
    """Lanes.split against Python sets: a complement's minority side leaves its exclusions out and its majority
    side keeps them out (the window's flags, where `np.setdiff1d` / `np.union1d` once found them), near-even and
    lopsided conditions alike; the caller's condition is left as it was."""
    rng = np.random.default_rng(11)
    for lanes, expected in lanes_of_every_form(rng, 300):
        base = 0 if lanes.window is None else lanes.window.start
        for share in (0.01, 0.5, 0.99):
            cond = rng.random(lanes.n) < share
            before = cond.copy()
            yes, no = lanes.split(cond)
            np.testing.assert_array_equal(cond, before)
            held = {int(pe) for pe in expected if cond[pe - base]}
            assert set(yes.indices().tolist()) == held and yes.count == len(held)
            assert set(no.indices().tolist()) == set(expected.tolist()) - held
            assert no.count == len(expected) - len(held)
            for part in (yes, no):
                if part.excl is not None:
                    assert np.all(np.diff(part.excl) > 0)  # (sorted and unique, as every form's indices)


def test_sorted_indices_become_a_slice_exactly_where_evenly_spaced():
    from wafersim.sim.lanes import _as_slice

    rng = np.random.default_rng(12)
    cases = [np.arange(a, b, step) for a, b, step in ((0, 64, 1), (3, 4000, 64), (5, 6, 1), (7, 300, 7))]
    # (the span as even spacing would have it, but a gap off; the span off; a middle gap off)
    cases += [np.array([0, 2, 3, 6]), np.array([1, 2, 4, 5]), np.array([0, 1, 3, 4, 6])]
    cases += [np.sort(rng.choice(500, size=int(rng.integers(2, 40)), replace=False)) for _ in range(200)]
    for indices in cases:
        got = _as_slice(indices)
        gaps = {int(g) for g in np.diff(indices)}
        if len(gaps) <= 1:  # (one index: a slice of one)
            assert isinstance(got, slice) and list(range(5000)[got]) == indices.tolist()
        else:
            assert got is indices


def test_the_two_parts_of_a_dense_split_kept_for_rejoining_are_the_group_again_and_other_unions_sets():
    n = 1024
    rng = np.random.default_rng(3)
    edge = np.zeros(n, dtype=bool)
    edge[31::32] = True  # a block's east column: an index part and a complement
    wide = rng.random(n) < 0.5  # two large parts: masks
    for whole in (Lanes(n), Lanes.all_but(n, np.arange(0, n, 97))):
        for cond in (edge, ~edge, wide):
            first, second = whole.rejoins(whole.split(whole.get(cond)))
            expected = whole.as_mask()
            assert np.array_equal(first.as_mask(), expected & cond)
            assert np.array_equal(second.as_mask(), expected & ~cond)
            assert first.union_disjoint(second) is whole and second.union_disjoint(first) is whole
            # a part with lanes from elsewhere, or parts of a split not kept for rejoining: set unions
            other, rest = whole.split(whole.get(cond))  # (the same lanes as `first` and `second`, other objects)
            for a, b in ((other, second), (first, rest), (other, rest)):
                merged = a.union_disjoint(b)
                assert merged is not whole and np.array_equal(merged.as_mask(), expected)
    # a part without lanes, and index groups' parts, are not kept (their merges stay set operations)
    full = Lanes(n)
    none, every = full.rejoins(full.split(np.zeros(n, dtype=bool)))
    assert none.count == 0 and none._rejoin is None
    some = Lanes(n, idx=np.arange(0, n, 3))
    a, b = some.rejoins(some.split(some.get(np.arange(n) % 2 == 0)))
    merged = a.union_disjoint(b)
    assert merged is not some and np.array_equal(merged.as_mask(), some.as_mask())


def lanes_in_every_form(n: int, members: np.ndarray):
    """The same lane set as index, mask, complement and (when it is everything) full Lanes."""
    mask = np.zeros(n, dtype=bool)
    mask[members] = True
    forms = [Lanes(n, idx=np.flatnonzero(mask)), Lanes(n, mask=mask)]
    forms.append(Lanes(n) if mask.all() else Lanes(n, excl=np.flatnonzero(~mask)))
    return forms


@pytest.mark.parametrize("seed", range(12))
def test_sparse_lane_updates_agree_with_set_arithmetic_in_every_form(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    members = np.flatnonzero(rng.random(n) < rng.random())
    others = np.setdiff1d(np.flatnonzero(rng.random(n) < 0.3), members)  # disjoint from members
    probe = np.unique(rng.integers(-3, n + 3, int(rng.integers(0, 20))))  # sorted, as owners always are
    expected_pick = sorted(set(probe.tolist()) & set(members.tolist()))
    for lanes in lanes_in_every_form(n, members):
        picked = lanes.pick(probe)
        assert picked.tolist() == expected_pick, lanes
        rest = lanes.without(picked)
        assert rest.count == len(members) - len(picked)
        assert rest.indices().tolist() == sorted(set(members.tolist()) - set(expected_pick))
        for other in lanes_in_every_form(n, others):
            merged = lanes.union_disjoint(other)
            assert merged.count == len(members) + len(others)
            assert merged.indices().tolist() == sorted(set(members.tolist()) | set(others.tolist()))
