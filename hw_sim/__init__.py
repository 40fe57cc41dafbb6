"""hw_sim: NIR graphs on Loihi 2, simulated in Lava, and what they cost there.

Three rooms, one concern each; data flows NIR graph -> lowered network -> chip formats -> Lava run -> analysis:
- `hw_sim.simulator`: the Lava simulation. `lowering` turns a NIR graph into neuron groups and synapses,
  `delays` aligns branches, `fusion` groups chains into one process, `build` makes the Lava processes
  (`processes/`: our own Process/ProcessModel pairs), `simulation.run` runs `Loihi2SimCfg`; `snnpar simulate`.
- `hw_sim.chip`: the Loihi 2 chip. `quantize` chooses the fixed-point formats (defined in `snnpar.loihi2`),
  `integer_evaluator` is the bit-exact, batched torch integer model of a fixed-point run. The chip room reads the lowered network; the simulator reads
  the chip's formats to configure its fixed-point models.
- `hw_sim.analysis`: comparison (Norse vs Lava), operation counting, energy profiles and pricing, plots;
  `snnpar compare` and `snnpar energy`.

Lava is imported lazily: only `hw_sim.simulator.build` and `simulation` (and the processes) need it.
"""

from __future__ import annotations

__all__ = ["build", "run", "SimulationResult", "lower", "quantize", "IntegerEvaluator"]


def __getattr__(name):
    if name == "build":
        from hw_sim.simulator.build import build
        return build
    if name in ("run", "SimulationResult"):
        from hw_sim.simulator import simulation
        return getattr(simulation, name)
    if name == "lower":
        from hw_sim.simulator.lowering import lower
        return lower
    if name == "quantize":
        from hw_sim.chip.quantize import quantize
        return quantize
    if name == "IntegerEvaluator":
        from hw_sim.chip.integer_evaluator import IntegerEvaluator
        return IntegerEvaluator
    raise AttributeError(name)
