"""snnpar: spiking pedestrian attribute recognition, from training to a neuromorphic-hardware graph.

The library part of snnpar covers data, models and training; it never imports `export` (NIR) or
`hw_sim` (Lava). Only the command-line front end (`snnpar.cli`) composes all stages.
"""

__version__ = "0.1.0"
