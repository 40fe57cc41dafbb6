"""hw_sim: NIR graphs simulated in Lava (Loihi 2 simulation, floating and fixed point).

`build(graph)` -> connected Lava processes; `run(graph_or_path, images, mode, T)` -> `SimulationResult`;
`hw_sim.fixed_reference` is the bit-exact numpy model of the fixed-point run. Lava is imported lazily.
"""

from __future__ import annotations

__all__ = ["build", "run", "SimulationResult", "lower", "quantize", "simulate_reference"]


def __getattr__(name):
    if name == "build":
        from hw_sim.build import build
        return build
    if name in ("run", "SimulationResult"):
        from hw_sim import simulation
        return getattr(simulation, name)
    if name == "lower":
        from hw_sim.lowering import lower
        return lower
    if name == "quantize":
        from hw_sim.quantize import quantize
        return quantize
    if name == "simulate_reference":
        from hw_sim.fixed_reference import simulate_reference
        return simulate_reference
    raise AttributeError(name)
