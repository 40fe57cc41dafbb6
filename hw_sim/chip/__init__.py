"""The Loihi 2 chip: fixed-point quantisation of a lowered network, its integer model, and a student as deployed.

`quantize` applies the formats and scale rule of `snnpar.loihi2.formats` (their one definition) to a graph;
`integer_evaluator` is the batched torch integer model that the Lava fixed-point run equals bit for bit;
`deployment` turns a checkpoint into that network (trained QAT formats, or post-training quantisation).
Nothing here runs Lava.
"""
