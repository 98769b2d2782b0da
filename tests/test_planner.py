"""The memory plan: live tensors never share bytes, dead ones do, views alias."""
from __future__ import annotations

import numpy as np

from mcugen.ir import Graph
from mcugen.ops.dense import Dense
from mcugen.ops.reshape import Reshape
from mcugen.planner import INPUT, plan_memory


def chain(sizes, view_at=None):
    g = Graph("chain")
    g.add_tensor("t0", (sizes[0],))
    g.inputs = ["t0"]
    for i in range(1, len(sizes)):
        g.add_tensor(f"t{i}", (sizes[i],))
        if i == view_at:
            g.ops.append(Reshape(name=f"op{i}", inputs=[f"t{i-1}"], outputs=[f"t{i}"]))
        else:
            w = np.zeros((sizes[i - 1], sizes[i]))
            g.ops.append(Dense(name=f"op{i}", inputs=[f"t{i-1}"], outputs=[f"t{i}"], weights=w, bias=None))
    g.outputs = [f"t{len(sizes) - 1}"]
    return g


def assert_no_live_overlap(g, plan):
    for a in plan.buffers:
        for b in plan.buffers:
            if a is b or not a.overlaps_in_time(b):
                continue
            assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
    assert plan.arena_size >= max(b.offset + b.size for b in plan.buffers)


def test_chain_reuses_memory():
    g = chain([100, 100, 100, 100, 100])
    plan = plan_memory(g)
    assert_no_live_overlap(g, plan)
    assert plan.arena_size == 200  # ping-pong: never more than two alive


def test_greedy_fills_gaps():
    g = chain([64, 300, 32, 300, 16])
    plan = plan_memory(g)
    assert_no_live_overlap(g, plan)
    # The input t0 stays in the caller's buffer. t1 and t3 (300 each) are
    # never alive together and share offset 0; the small ones fit beside
    # them: 300 + 32.
    assert plan.offsets["t0"] == INPUT and "t0" in plan.in_caller
    assert plan.arena_size == 332


def test_view_aliases_its_input():
    g = chain([40, 40, 40, 10], view_at=2)
    plan = plan_memory(g)
    assert plan.offsets["t2"] == plan.offsets["t1"]
    assert_no_live_overlap(g, plan)
    assert "t2" in plan.ascii() or "t1" in plan.ascii()
