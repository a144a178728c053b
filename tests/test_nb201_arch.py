"""The NB201 arch value: string, index, config space and canonical forms, against NB201's own facts."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from nasforge.errors import ArchError
from nasforge.spaces.nb201 import (
    EDGES,
    NUM_ARCHS,
    OPS,
    NB201Arch,
    all_archs,
    canonical_classes,
    config_space,
    sample,
)

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_ops_and_edges_are_nb201s():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert NUM_ARCHS == 15625


def test_string_round_trip_and_edge_order():
    arch = NB201Arch.parse(BEST_C10)
    assert str(arch) == BEST_C10
    # Node 3's inputs are written last: 0->3 skip, 1->3 conv3x3, 2->3 conv1x1.
    assert arch.op(0, 3) == "skip_connect"
    assert arch.op(2, 3) == "nor_conv_1x1"
    assert arch.op_code == "333132"


def test_value_semantics():
    a = NB201Arch.parse(BEST_C10)
    b = NB201Arch(tuple(a.ops))
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.ops = ("none",) * 6  # type: ignore[misc]


def test_index_mapping_matches_the_benchmark_table_for_all_archs(nb201_csv):
    with gzip.open(nb201_csv, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == NUM_ARCHS
    for row in rows:
        arch = NB201Arch.from_index(int(row["index"]))
        assert str(arch) == row["arch_str"]
        assert arch.op_code == row["op_code"]
        assert NB201Arch.parse(row["arch_str"]).index == int(row["index"])


def test_known_indices():
    # Facts from the NB201 papers and the data README: the CIFAR-10 optimum is index 6111.
    assert NB201Arch.from_index(6111) == NB201Arch.parse(BEST_C10)
    assert NB201Arch.from_op_code("333133").index == 9930


def test_all_archs_is_a_permutation_in_index_order():
    archs = list(all_archs())
    assert len(set(archs)) == NUM_ARCHS
    assert [a.index for a in archs[:50]] == list(range(50))


def test_code_round_trip():
    for code in (0, 1, 4, 5, 3124, 15624):
        assert NB201Arch.from_code(code).code == code
    assert NB201Arch.from_code(0).ops == ("none",) * 6
    assert NB201Arch.from_code(15624).ops == ("avg_pool_3x3",) * 6


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 node groups"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 op 'conv'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must be 'op~0'"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end with '|'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 edges"),
        ("", "3 node groups"),
    ],
)
def test_malformed_strings_name_the_problem(text, fragment):
    with pytest.raises(ArchError, match=fragment) as info:
        NB201Arch.parse(text)
    assert isinstance(info.value, ValueError)


def test_bad_values_are_rejected():
    with pytest.raises(ArchError, match="valid ops: none, skip_connect"):
        NB201Arch(("none",) * 5 + ("conv_5x5",))
    with pytest.raises(ArchError, match="6 edges"):
        NB201Arch(("none",) * 5)
    with pytest.raises(ArchError, match=r"0\.\.15624"):
        NB201Arch.from_index(15625)
    with pytest.raises(ArchError, match=r"0\.\.15624"):
        NB201Arch.from_index(-1)
    with pytest.raises(ArchError, match="6 digits"):
        NB201Arch.from_op_code("33313")
    with pytest.raises(ArchError, match="not an NB201 edge"):
        NB201Arch.from_index(0).op(1, 0)


def test_from_any_accepts_string_index_and_op_code():
    best = NB201Arch.parse(BEST_C10)
    assert NB201Arch.from_any(BEST_C10) == best
    assert NB201Arch.from_any("6111") == best
    assert NB201Arch.from_any(" op:333132 ") == best


def test_config_space_has_one_categorical_per_edge_and_round_trips():
    cs = config_space(seed=1)
    assert sorted(cs.keys()) == sorted(f"edge_{i}-{j}" for i, j in EDGES)
    for name in cs.keys():
        assert tuple(cs[name].choices) == OPS
    for config in cs.sample_configuration(20):
        arch = NB201Arch.from_config(config)
        assert arch.to_config() == dict(config)
    with pytest.raises(ArchError, match="edge_2-3"):
        NB201Arch.from_config({"edge_0-1": "none"})
    assert NB201Arch.from_config(cs.get_default_configuration()).op_code == "000000"  # first choice, none
    skip = config_space(default_op="skip_connect").get_default_configuration()
    assert NB201Arch.from_config(skip).op_code == "111111"
    with pytest.raises(ArchError, match="unknown NB201 op 'conv'"):
        config_space(default_op="conv")


def test_graph_view():
    graph = NB201Arch.parse(BEST_C10).to_graph()
    assert sorted(graph.nodes) == [0, 1, 2, 3]
    assert sorted(graph.edges) == sorted(EDGES)
    assert graph.edges[2, 3]["op"] == "nor_conv_1x1"


def test_neighbors_differ_in_exactly_one_edge():
    arch = NB201Arch.parse(BEST_C10)
    neighbors = arch.neighbors()
    assert len(neighbors) == 24 == len(set(neighbors))
    for n in neighbors:
        assert sum(a != b for a, b in zip(arch.ops, n.ops)) == 1


def test_sampling_is_seeded_and_uniform_enough():
    a = [sample(np.random.default_rng(3)) for _ in range(3)]
    b = [sample(np.random.default_rng(3)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(0)
    counts = np.zeros(len(OPS))
    for _ in range(2000):
        for op in sample(rng).ops:
            counts[OPS.index(op)] += 1
    assert counts.min() > 0.8 * counts.mean()


def test_nb201_canonical_form_gives_the_papers_6466_unique_cells():
    classes = canonical_classes("nb201")
    assert len(classes) == 6466
    assert sum(len(m) for m in classes.values()) == NUM_ARCHS


def test_functional_form_is_coarser_than_nb201s():
    functional = canonical_classes("functional")
    assert len(functional) < 6466
    # Every NB201 class lies inside one functional class.
    for members in canonical_classes("nb201").values():
        assert len({NB201Arch.from_index(i).canonical("functional") for i in members}) == 1


def test_canonical_forms_on_hand_worked_cells():
    # All-none and a cell whose only path to the output starts at a zero node compute zero.
    zero = NB201Arch(("none",) * 6)
    dead = NB201Arch(("none", "none", "none", "none", "none", "nor_conv_3x3"))
    assert zero.canonical("functional") == dead.canonical("functional") == "0"
    # NB201's form: node 1 = "#", node 2 = "#+#" (two zero terms, no longer the bare "#"), so the conv on
    # edge 2->3 keeps a placeholder term and the two cells differ there.
    assert zero.canonical("nb201") == "#+#+#"
    assert dead.canonical("nb201") == "#+#+(#+#)@nor_conv_3x3"
    # Skip passes through: x -> skip -> conv equals x -> conv on edge 0->3 (other edges none).
    via_skip = NB201Arch(("skip_connect", "none", "none", "none", "nor_conv_3x3", "none"))
    direct = NB201Arch(("none", "none", "none", "nor_conv_3x3", "none", "none"))
    assert via_skip.canonical("nb201") == direct.canonical("nb201") == "#+#+(0)@nor_conv_3x3"
    assert via_skip.canonical("functional") == direct.canonical("functional") == "nor_conv_3x3(x)"
    # Sums commute: swapping which edge into node 3 carries which op does not matter.
    a = NB201Arch(("skip_connect", "none", "none", "nor_conv_1x1", "nor_conv_3x3", "none"))
    b = NB201Arch(("skip_connect", "none", "none", "nor_conv_3x3", "nor_conv_1x1", "none"))
    assert a.canonical("nb201") == b.canonical("nb201")


def test_representative_is_the_lowest_index_member():
    arch = NB201Arch(("skip_connect", "none", "none", "none", "nor_conv_3x3", "none"))
    rep = arch.representative("nb201")
    assert rep.canonical("nb201") == arch.canonical("nb201")
    members = canonical_classes("nb201")[arch.canonical("nb201")]
    assert rep.index == min(members)
    with pytest.raises(ArchError, match="nb201, functional"):
        arch.canonical("exact")  # type: ignore[arg-type]
