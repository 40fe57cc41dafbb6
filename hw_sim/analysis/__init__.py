"""Analysis of spiking runs: fidelity (Norse vs Lava), operation counts, energy under named profiles, the fair
45 nm MAC-array baseline, chip-level energy and latency on a core mapping, plots.

It reads spikes from any source (Norse, Lava float or fixed) and the NIR graph; it builds no Lava processes
itself (`compare` asks `hw_sim.simulator` for a run).
"""
