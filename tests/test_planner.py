"""The memory plan: live tensors never share bytes, dead ones do, views alias.

Checked by running the plan, not by the planner's own lifetimes: every arena
byte carries the name of the tensor last written there; each op must find
its inputs still intact (also after writing its outputs and scratch), and
the output must be intact at the end. Chains, and branched graphs (a
residual add, a concatenation of two branches) from Keras."""
from __future__ import annotations

import numpy as np
import pytest

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


def run_plan(g, plan) -> None:
    """Execute the plan on byte tags; fails where a tensor is overwritten while needed."""
    arena: list = [None] * plan.arena_size
    source = {}  # a view's output -> the tensor whose bytes it is

    def root(t):
        while t in source:
            t = source[t]
        return t

    def intact(t, when):
        if plan.offsets[t] == INPUT:
            assert root(t) == g.inputs[0], f"{t} said to be in the caller's input buffer"
            return
        o, n = plan.offsets[t], g.tensors[t].size
        assert o + n <= plan.arena_size, f"{t} ends past the arena"
        bad = [k for k in range(o, o + n) if arena[k] != root(t)]
        assert not bad, f"{t} (bytes {o}..{o + n}) overwritten by {arena[bad[0]]!r} {when}"

    def write(tag, o, n):
        assert 0 <= o and o + n <= plan.arena_size, f"{tag} outside the arena"
        arena[o : o + n] = [tag] * n

    for i, op in enumerate(g.ops):
        for t in op.inputs:
            intact(t, f"before {op.name}")
        if getattr(op, "is_view", False):
            source[op.outputs[0]] = op.inputs[0]
            assert plan.offsets[op.outputs[0]] == plan.offsets[op.inputs[0]], "a view must alias its input"
            continue
        if i in plan.scratch:
            write(("scratch", i), plan.scratch[i], op.scratch_bytes(g))
        for t in op.outputs:
            if plan.offsets[t] != INPUT:
                write(t, plan.offsets[t], g.tensors[t].size)
        for t in op.inputs:
            intact(t, f"while {op.name} runs (its output or scratch overlaps it)")
    intact(g.outputs[0], "at the end")


def assert_no_live_overlap(g, plan):
    run_plan(g, plan)


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


def branched(keras):
    """A residual add and a concatenation of two branches, with a flatten (a view)."""
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph

    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    b = L.Conv2D(8, 3, padding="same")(a)
    r = L.Add()([a, b])  # a stays alive across b
    c1 = L.Conv2D(4, 1)(r)
    c2 = L.MaxPooling2D(1)(L.DepthwiseConv2D(3, padding="same")(r))
    x = L.Concatenate()([c1, c2, r])
    x = L.Flatten()(L.MaxPooling2D(2)(x))
    model = keras.Model(inp, L.Dense(5)(x), name="branched")
    g = graph_from_keras(model, "branched")
    optimize(g)
    quantize_graph(g, np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 3)).astype(np.float32))
    return g


def test_branched_graph_plan_runs(keras):
    g = branched(keras)
    kinds = [op.kind for op in g.ops]
    assert "add" in kinds and "concat" in kinds, kinds
    plan = plan_memory(g)
    run_plan(g, plan)
    # The residual's first operand is read two ops after it is written, so
    # the plan needs at least three feature maps of 8x8x8 at once.
    assert plan.arena_size >= 3 * 512


def test_a_wrong_plan_is_caught(keras):
    """The check is no tautology: move one tensor onto a live one and it fails."""
    g = branched(keras)
    plan = plan_memory(g)
    add = next(op for op in g.ops if op.kind == "add")
    a, b = add.inputs
    plan.offsets[b] = plan.offsets[a]
    with pytest.raises(AssertionError, match="overwritten"):
        run_plan(g, plan)
