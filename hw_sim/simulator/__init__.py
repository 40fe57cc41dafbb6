"""The Lava simulation of a NIR graph: lowering, branch delays, fusion, process building and the run.

It runs what the chip room (`hw_sim.chip`) decides about fixed-point formats; it does not analyse the
results (`hw_sim.analysis`).
"""
