"""tests/conftest.py's ordering of the suite under xdist (`pytest_collection_modifyitems`, `SLOW_TESTS`): only the
order changes -- every test collected runs exactly once -- and `SLOW_TESTS` names tests that exist (a renamed test
would silently lose its place at the front of a worker's share)."""
from __future__ import annotations

import ast
import dataclasses
import random
from pathlib import Path

import pytest

import conftest

TESTS = Path(__file__).parent


@dataclasses.dataclass
class Item:
    nodeid: str


def test_every_slow_test_named_exists():
    for entry in conftest.SLOW_TESTS:
        file, _, function = entry.partition("::")
        path = TESTS / file
        assert path.is_file(), entry
        if function:
            names = {node.name for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
            assert function in names, entry


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
def test_the_order_keeps_every_test_once_and_deals_the_slow_ones_first(workers, seed, monkeypatch):
    g = random.Random(seed)
    slow = list(conftest.SLOW_TESTS)
    ids = []
    for k in range(g.randint(0, 400)):  # fast tests, some in the slow tests' files, with parameters
        file = g.choice([f"test_fast_{k % 7}.py", slow[k % len(slow)].split("::")[0]])
        ids.append(f"tests/{file}::test_{k}[{k % 3}]")
    for entry in g.sample(slow, g.randint(0, len(slow))):  # slow ones, some with parameters
        ids += [f"tests/{entry}::test_whole_file" if "::" not in entry else f"tests/{entry}[{p}]"
                for p in range(g.randint(1, 3))]
    g.shuffle(ids)
    items = [Item(nodeid) for nodeid in ids]
    collected = list(items)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
    conftest.pytest_collection_modifyitems(None, items)
    assert sorted(id(item) for item in items) == sorted(id(item) for item in collected)  # (each once)
    if workers < 2:
        assert items == collected
        return
    is_slow = [conftest._slow_entry(item.nodeid) is not None for item in items]
    fast = [item for item, slow_one in zip(items, is_slow) if not slow_one]
    assert fast == [item for item in collected if conftest._slow_entry(item.nodeid) is None]  # (collection order)
    files = [conftest._slow_entry(item.nodeid).split("::")[0] for item, slow_one in zip(items, is_slow) if slow_one]
    for file in set(files):  # (a file's slow tests together: its module fixtures and kernels serve them all)
        first = files.index(file)
        assert files[first:first + files.count(file)] == [file] * files.count(file), file
    sizes = conftest._xdist_shares(len(items), workers)
    if len(files) <= min(sizes):  # (every worker's slow tests fit its share: it starts with them)
        start = 0
        for size in sizes:
            flags = is_slow[start:start + size]
            assert flags == sorted(flags, reverse=True)
            start += size
