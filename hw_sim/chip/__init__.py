"""The Loihi 2 chip: fixed-point formats and quantisation of a lowered network, and its integer model.

Nothing here runs Lava: the integer model is plain array arithmetic that the Lava fixed-point run equals
bit for bit.
"""
