"""Custom Lava processes for what lava-nc lacks: spiking self-attention, delay lines, a vectorised Conv model.

Each Process declares ports and variables only; float and fixed-point ProcessModels sit side by side.
"""
