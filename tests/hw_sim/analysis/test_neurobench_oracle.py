"""The NeuroBench-named fields hold NeuroBench's values: NeuroBench 2.3 itself, run on the same student and
images, is the oracle (its SynapticOperations, ActivationSparsity, Footprint, ConnectionSparsity)."""

import pytest
import torch
from spiking_fixtures import active_tiny_student

from hw_sim.analysis.spikformer_energy import count_spikformer_operations
from snnpar.models.neurons import NEURON_BACKENDS


@pytest.fixture(scope="module")
def both():
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    model = active_tiny_student().float()
    images = torch.randn(3, 3, 128, 64, generator=torch.Generator().manual_seed(5))
    ours = count_spikformer_operations(model, images, neurobench=True).neurobench()
    wrapped = TorchModel(model)
    for neuron in set(NEURON_BACKENDS.values()):
        wrapped.add_activation_module(neuron)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, torch.zeros(3, 26)), batch_size=3)
    bench = Benchmark(wrapped, data, [], [], [[Footprint, ConnectionSparsity], [SynapticOperations, ActivationSparsity]])
    theirs = bench.run(quiet=True)
    return ours, theirs


def test_synaptic_operations_equal_neurobench(both):
    ours, theirs = both
    ops = theirs["SynapticOperations"]
    assert ops["Effective_ACs"] > 0 and ops["Effective_MACs"] > 0
    for key in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert ours["SynapticOperations"][key] == pytest.approx(ops[key], rel=1e-9), key


def test_activation_sparsity_footprint_and_connection_sparsity_equal_neurobench(both):
    ours, theirs = both
    assert ours["ActivationSparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-12)
    assert ours["Footprint"] == theirs["Footprint"]
    assert ours["ConnectionSparsity"] == pytest.approx(theirs["ConnectionSparsity"], abs=5e-5)  # NeuroBench rounds to 4 places
