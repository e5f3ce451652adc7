"""sim/branches.py: which conditional branches test has_neighbor, found by reaching definitions."""
from __future__ import annotations

import wafersim as ws
from wafersim.isa.opcodes import DIRECTIONS
from wafersim.sim.branches import neighbour_branches


def branches_of(source: str) -> dict[int, str]:
    """{pc of each has_neighbor branch: its direction's name} of an assembled program."""
    program = ws.assemble(source)
    return {pc: DIRECTIONS[d] for pc, d in neighbour_branches(dict(program.instructions())).items()}


def test_a_branch_on_a_neighbour_flag_set_once_before_a_loop_is_found():
    found = branches_of("""
        li r1, 5
        hasnb r1, east
        li r2, 3
    loop:
        bz r1, skip
        addi r3, r3, 1
    skip:
        addi r2, r2, -1
        bnz r2, loop
        halt
    """)
    assert list(found.values()) == ["east"]  # the loop's own branch (on a counter) is not one


def test_a_flag_redefined_on_one_path_or_never_defined_is_not_static():
    found = branches_of("""
        hasnb r1, north
        bz r4, other
        li r1, 1
    other:
        bz r1, end
        bz r5, end
        nop
    end:
        halt
    """)
    assert found == {}  # r1: hasnb or li; r4 and r5: the initial zero


def test_the_last_definition_on_every_path_counts():
    found = branches_of("""
        hasnb r2, south
        hasnb r2, west
        bz r2, end
        li r3, 1
        hasnb r3, north
        bnz r3, end
        nop
    end:
        halt
    """)
    assert sorted(found.values()) == ["north", "west"]


def test_two_directions_reaching_one_branch_are_not_static():
    found = branches_of("""
        bz r4, second
        hasnb r1, north
        jmp test
    second:
        hasnb r1, south
    test:
        bz r1, end
        nop
    end:
        halt
    """)
    assert found == {}
