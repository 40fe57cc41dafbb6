"""Round trips with other tools (export/interop_cases.py, the rows of the README's interop table): graphs that Norse,
snnTorch, Sinabs and Rockpool write run in the executor, and our student (standard and portable) and the NIR paper's
graphs in their importers, spikes compared on every spiking layer. Where a tool disagrees the row says why, and the
tests below check the stated reason where it can be checked."""

from __future__ import annotations

from pathlib import Path

import nir
import pytest
import torch

from export import interop_cases as cases
from export.executor import run_graph
from export.interop import tool_outputs

PAPER = Path(__file__).resolve().parents[1] / "fixtures" / "nir_paper"


@pytest.fixture(scope="module")
def students():
    return cases.student_graphs()


def test_graphs_written_by_snntorch_and_sinabs_run_spike_for_spike_where_nir_says_what_they_mean():
    assert cases.snntorch_writes("zero", synaptic=False).spikes_equal == "yes (2 layers)"
    assert cases.sinabs_writes(single_spike=True).spikes_equal == "yes (2 layers)"


@pytest.mark.parametrize("case, reason", [
    (lambda: cases.snntorch_writes("zero", synaptic=True), "discards the next step's membrane update"),
    (lambda: cases.snntorch_writes("subtract", synaptic=False), "one step late and undecayed"),
    (lambda: cases.sinabs_writes(single_spike=False), "emits up to 2 spikes in one step"),
    (cases.rockpool_writes, "exact exponential decay"),
    (cases.norse_writes, "writes tau = 5e-06 s for tau_mem = 5 ms"),
])
def test_writers_whose_meaning_nir_cannot_hold_load_and_run_and_the_row_says_why(case, reason):
    row = case()
    assert (row.loads, row.runs) == ("yes", "yes")
    assert row.spikes_equal.startswith("no:") and reason in row.note


def test_the_nir_papers_rockpool_file_fails_nirs_type_check_and_runs_once_read_without_it():
    row = cases.public_lif_rockpool(PAPER)
    assert row.loads.startswith("nir.read no (Type inference error") and row.runs == "yes"
    assert row.spikes_equal.startswith("no: 4 spikes vs 4")


def test_portable_student_runs_in_snntorch_spike_for_spike(students):
    graph, x = students["sdsa-portable"]
    rates = {name: out.mean().item() for name, out in run_graph(graph, x).items() if isinstance(graph.nodes[name], nir.LIF)}
    assert len(rates) == 17 and all(0.02 < r < 0.98 for r in rates.values()), rates  # not a vacuous comparison
    row = cases.imports("snntorch", "sdsa-portable", graph, x, 1e-4, "zero")
    assert row.spikes_equal == "yes (17 layers)"


def test_portable_student_in_norse_differs_only_through_norses_stale_fan_in(students):
    graph, x = students["sdsa-portable"]
    ours, theirs = run_graph(graph, x), tool_outputs("norse", graph, x, 1e-4)
    before = ["tokenizer.proj1_lif", "tokenizer.maxpool4", "blocks.0.attn.q_lif", "blocks.0.attn.k_lif"]
    assert all(torch.equal(ours[n], theirs[n]) for n in before)
    q, k = ours["blocks.0.attn.q_lif"], ours["blocks.0.attn.k_lif"]
    assert not torch.equal(ours["blocks.0.attn.q_and_k"], theirs["blocks.0.attn.q_and_k"])
    # Norse's executor gives the AND of q now and k of the previous step: a fan-in edge read one step stale
    k_before = torch.cat([torch.zeros_like(k[:1]), k[:-1]])
    assert torch.equal(((q + k_before) > 1.5).double(), theirs["blocks.0.attn.q_and_k"])


@pytest.mark.parametrize("tool, error", [("norse", "KeyError"), ("snntorch", "Threshold"), ("sinabs", "truth value")])
def test_the_standard_student_graph_fails_in_every_importer_and_the_row_says_why(students, tool, error):
    graph, x = students["sdsa"]
    row = cases.imports(tool, "sdsa", graph, x, 1e-3, "zero", cases.IMPORT_NOTES[(tool, "sdsa")])
    assert row.loads.startswith("no:") and error in row.loads and row.note


def test_snntorch_cannot_import_its_own_braille_graph():
    graph = nir.read(PAPER / "braille_noDelay_noBias_subtract.nir")
    x = torch.zeros(3, 1, 12, dtype=torch.float64)
    row = cases.imports("snntorch", "braille", graph, x, 1e-4, "subtract")
    assert row.loads == "no: AttributeError: 'GraphModule' object has no attribute 'items'"
