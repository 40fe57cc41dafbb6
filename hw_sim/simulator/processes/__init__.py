"""Custom Lava processes for what lava-nc lacks: spiking self-attention, delay lines, a vectorised Conv model,
a recorder, and a fused chain that runs several layers' own ProcessModels in one process.

Each Process declares ports and variables only; float and fixed-point ProcessModels sit side by side.
"""
