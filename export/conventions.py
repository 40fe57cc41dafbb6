"""What a NIR graph cannot say but its writer meant: the time step and the reset mode.

NIR 1.0.8 stores continuous-time neurons (tau dv/dt = ...) without the time step they were trained
with, and one reset rule (v <- v_reset). Every runner here reads both the same way:
- dt: the graph's metadata ``dt`` where the writer put it (snnpar does), otherwise the caller's option;
  both given and different is an error, none given where a neuron needs one is an error whose message
  names the conventions of the common writers (snnTorch's export assumes dt = 1e-4, Sinabs writes
  discrete-time graphs: dt = 1, Norse's `from_nir` defaults to 1e-3). Nothing is guessed.
- reset: "zero" is NIR's rule, v <- v_reset after a spike; "subtract" is v <- v - v_threshold (Norse's
  `reset_subtract`, the reset the NIR paper used for its Braille graph trained with subtraction). Left
  unset, NIR's rule applies, with a warning where the graph's neurons carry the fingerprint of a writer
  that stores v_reset = 0 whatever the network was trained with (snnTorch's `export_to_nir`).
This module only decides and warns; it runs nothing.
"""

from __future__ import annotations

import warnings

import nir
import numpy as np

from snnpar.errors import UserError

RESET_MODES = ("zero", "subtract")
# Node types whose discretisation needs dt (forward Euler of NIR's equations).
TIMED_NODES = (nir.LIF, nir.LI, nir.IF, nir.I, nir.CubaLIF, nir.CubaLI)
SNNTORCH_DT = 1e-4  # snnTorch's export_to_nir and import_from_nir hard-code this time step
DT_HINT = ("snnTorch's export_to_nir assumes dt = 1e-4, Sinabs writes discrete-time graphs (dt = 1), "
           "Norse's from_nir defaults to dt = 1e-3")


class WriterResetWarning(UserWarning):
    """The graph's writer is known to store v_reset = 0 for networks trained with reset by subtraction."""


def resolve_dt(graph: nir.NIRGraph, dt: float | None, option: str = "dt") -> float | None:
    """The graph's time step: metadata ``dt``, else `dt`; an error where they disagree or a neuron lacks one.

    `option` is how the caller's user passes dt (``dt=`` for functions, ``--dt`` for commands).
    Returns None for graphs without timed neurons and without any dt.
    """
    stored = (graph.metadata or {}).get("dt")
    if stored is not None and dt is not None and not np.isclose(float(stored), float(dt), rtol=1e-9, atol=0):
        raise UserError(f"the graph stores dt = {stored} in its metadata but {option} = {dt} was given; "
                        f"leave {option} out to run the graph as written")
    value = stored if stored is not None else dt
    if value is None:
        timed = [name for name, node in graph.nodes.items() if isinstance(node, TIMED_NODES)]
        if timed:
            hint = (f"its neurons follow snnTorch's export convention: pass {option}={SNNTORCH_DT:g}"
                    if writer_stores_zero_reset(graph) else f"pass {option} ({DT_HINT})")
            raise UserError(f"node {timed[0]!r} ({type(graph.nodes[timed[0]]).__name__}) needs the time step, but the "
                            f"graph has no 'dt' in its metadata; {hint}")
        return None
    if not float(value) > 0:
        raise UserError(f"dt must be a positive number of seconds per step, got {value}")
    return float(value)


def check_reset(reset: str | None) -> str:
    """The reset mode to use: `reset`, or NIR's rule ("zero") when unset."""
    if reset is None:
        return "zero"
    if reset not in RESET_MODES:
        raise UserError(f"reset must be one of {list(RESET_MODES)} (zero: NIR's v <- v_reset; subtract: "
                        f"v <- v - v_threshold), got {reset!r}")
    return reset


def writer_stores_zero_reset(graph: nir.NIRGraph) -> bool:
    """True when every LIF/CubaLIF has snnTorch's export fingerprint: r = tau_mem / 1e-4, v_leak = 0, v_reset = 0
    (and w_in = tau_syn / 1e-4 for CubaLIF). snnTorch writes v_reset = 0 whatever the reset mechanism, and its
    default mechanism is subtraction."""
    neurons = [n for n in graph.nodes.values() if isinstance(n, (nir.LIF, nir.CubaLIF))]
    if not neurons:
        return False

    def same(a, b) -> bool:
        return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-4, atol=0))

    for n in neurons:
        tau = n.tau if isinstance(n, nir.LIF) else n.tau_mem
        if not (same(n.r, np.asarray(tau, np.float64) / SNNTORCH_DT) and not np.any(n.v_leak) and not np.any(n.v_reset)):
            return False
        if isinstance(n, nir.CubaLIF) and not same(n.w_in, np.asarray(n.tau_syn, np.float64) / SNNTORCH_DT):
            return False
    return True


def warn_if_writer_meant_subtraction(graph: nir.NIRGraph, reset: str | None, option: str = "reset") -> None:
    """Warn (once per call) when the reset mode was left unset and the writer's fingerprint says v_reset = 0 may be
    a stand-in for reset by subtraction. An explicit `reset` silences it."""
    if reset is None and writer_stores_zero_reset(graph):
        warnings.warn(
            "the graph's neurons follow snnTorch's export convention, which stores v_reset = 0 whatever reset the "
            "network was trained with (snnTorch's default is reset by subtraction); running with NIR's reset to "
            f"v_reset. Pass {option}='subtract' if it was trained with subtraction, {option}='zero' to confirm "
            "(the NIR paper's braille_noDelay_noBias_subtract.nir is such a graph)", WriterResetWarning, stacklevel=3)


FIRING_RULES = (">", ">=")


def firing_rule(node: nir.NIRNode, name: str | None = None) -> str:
    """A spiking node's firing rule: NIR's own v > v_threshold (">"), or v >= v_threshold (">=", the
    reference's SpikingJelly neurons) where the writer says so in the node's metadata ``firing_rule``."""
    rule = (getattr(node, "metadata", None) or {}).get("firing_rule", ">")
    rule = rule.decode("utf8") if isinstance(rule, bytes) else str(rule)  # as plain nir.read returns strings
    if rule not in FIRING_RULES:
        where = f"node {name!r}: " if name else ""
        raise UserError(f"{where}metadata firing_rule must be '>' or '>=', not {rule!r}; fix the graph's writer")
    return rule
