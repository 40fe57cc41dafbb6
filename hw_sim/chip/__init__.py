"""The neuromorphic chip: Loihi 2 fixed-point formats and quantisation, the integer model, chip profiles
(data files with sources and bands, `chips/*.toml`) and the mapping of a NIR graph onto cores (`snnpar map`).

Nothing here runs Lava: the integer model is plain array arithmetic that the Lava fixed-point run equals
bit for bit, and the mapper reads shapes and nonzero weights only.
"""
