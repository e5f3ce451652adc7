"""sim/branches.py: which conditional branches test has_neighbor, found by reaching definitions."""
from __future__ import annotations

import wafersim as ws
from wafersim.isa.opcodes import DIRECTIONS
from wafersim.sim.branches import WRITES_NO_REGISTER_ANY, WRITES_ONLY_D_ANY, neighbour_branches


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


SOLVER_LOOP = """
        hasnb r1, east
        li r2, 3
        li r5, 8
    loop:
        bz r1, skip
        sendv.f32 east, 0, r0, r5
    skip:
        vdot.f r3, r0, r0, r5
        vaddx.f none, west, 1, r0, r5
        vfma.f r0, r0, r3, r5
        addi r2, r2, -1
        bnz r2, loop
        halt
    """


def test_a_flag_kept_across_vector_ops_dot_products_and_stream_ops_is_found_by_the_wide_sets():
    """A solver's halo loop (`WaveSim._branch_split` memoizes its splits of dense groups): `vdot` writes only its
    d, vector and stream ops no register; the narrow default sets do not look through them."""
    program = dict(ws.assemble(SOLVER_LOOP).instructions())
    assert neighbour_branches(program) == {}
    wide = neighbour_branches(program, WRITES_NO_REGISTER_ANY, WRITES_ONLY_D_ANY)
    assert [DIRECTIONS[d] for d in wide.values()] == ["east"]
    # ...but a dot product into the flag's own register is another definition
    redefined = dict(ws.assemble(SOLVER_LOOP.replace("vdot.f r3", "vdot.f r1")).instructions())
    assert neighbour_branches(redefined, WRITES_NO_REGISTER_ANY, WRITES_ONLY_D_ANY) == {}
