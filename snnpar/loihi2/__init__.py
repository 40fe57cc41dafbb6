"""Loihi 2 fixed point, defined once: the formats and scale rule (`formats`), the integer arithmetic as exact
torch primitives (`arithmetic`), and the quantisation-aware forward of the student built from them (`qat`).

Training (QAT), the exporter's metadata and `hw_sim` (quantisation, the integer evaluator) all use these, so
the network validated in training is, bit for bit, the network the chip runs. The integer arithmetic is that
of lava-nc 0.10.0's fixed-point ProcessModels (PyLifModelBitAcc, PyDenseModelBitAcc, PyConvModelFixed).
"""
