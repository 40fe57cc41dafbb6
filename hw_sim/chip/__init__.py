"""The Loihi 2 chip: fixed-point quantisation of a lowered network, its integer model, a student as deployed,
chip profiles (data files with sources and bands, `chips/*.toml`) and the mapping of a NIR graph onto cores.

`quantize` applies the formats and scale rule of `snnpar.loihi2.formats` (their one definition) to a graph;
`integer_evaluator` is the batched torch integer model that the Lava fixed-point run equals bit for bit;
`deployment` turns a checkpoint into that network (trained QAT formats, or post-training quantisation);
`profile` loads a chip description, `mapping` partitions and places a graph on its cores (`snnpar map`).
Nothing here runs Lava: the mapper reads shapes and nonzero weights only.
"""
