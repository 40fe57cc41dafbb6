"""Custom Lava processes for what lava-nc lacks: spiking self-attention, delay lines, a vectorised Conv model,
a recorder, a fused chain that runs several layers' own ProcessModels in one process, and a LIF group with
recurrent input, a bias into its current and reset by subtraction (`neurons.RecurrentLIFReset`).

Each Process declares ports and variables only; float and fixed-point ProcessModels sit side by side.
"""
