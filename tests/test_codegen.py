"""Generated-code quality: the API.md heat kernel's loop body has no redundant moves."""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim.kernels.heat import heat_kernel


def test_heat_loop_body_moves_only_the_zero_flux_edge_copies():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.zeros((8, 8), np.float32)
    compiled = heat_kernel.compile_for(dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 10)
    lines = [line.strip() for line in compiled.asm_text.splitlines()]
    body = lines[lines.index(next(l for l in lines if l.startswith("for"))):lines.index(next(l for l in lines
                                                                                              if l.startswith("fend")))]
    moves = [k for k, line in enumerate(body) if line.startswith("mov ")]
    assert len(moves) == 4  # one per direction: a missing neighbour reads as the cell itself
    for k in moves:
        assert body[k - 1].startswith("ielse")  # only on the edge path of `recv(d) if has_neighbor(d) else c`
    # ... and each copies the same register, the cell value c
    assert len({body[k].split(",")[1] for k in moves}) == 1
