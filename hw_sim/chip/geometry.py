"""Who connects to whom, by tiles: the synapse geometry a mapper needs, without enumerating synapses.

A population of neurons is laid out as channels x rows x columns (NIR's channel-major, row-major order; a
token sequence is one row, a vector is one position). A tile is a block of channels x a block of rows x a
block of columns. For every tile of a tiling the mapper needs its fan-in (distinct source neurons), the
synapses it stores (every source-target pair, or the kernel once where convolution weights are shared),
and for every source neuron the tiles it reaches (one spike message each). `SynapseGeometry` answers these
for one synapse node:

- windows (Conv1d/Conv2d/SumPool2d/AvgPool2d): separable by rows and columns, so a tile's footprint is
  (input rows reached) x (input columns reached) and its synapses are sums over kernel taps of valid rows
  x valid columns; exact, border-aware, for integer padding, stride and dilation;
- pointwise maps (1x1 convolutions over tokens, direct neuron-to-neuron edges): each position reads the
  same position of the source, whatever the two layouts;
- matrices (Affine/Linear [out, in], or one matrix per channel [C, out, in]): their nonzero pattern reduced
  over the tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import nir
import numpy as np

CONV_NODES = (nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
MATRIX_NODES = (nir.Affine, nir.Linear)
Layout = tuple[int, int, int]  # channels, rows, columns


def identity_synapse(channels: int, positions: int) -> nir.Conv1d:
    """A direct neuron-to-neuron edge (weight 1, one to one) as the synapse a core stores for it."""
    return nir.Conv1d(input_shape=positions, weight=np.ones((channels, 1, 1)), stride=1, padding=0, dilation=1,
                      groups=channels, bias=np.zeros(channels))


def blocks(n: int, size: int) -> list[tuple[int, int]]:
    """Consecutive [start, stop) blocks of `size` covering range(n)."""
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def block_index(n: int, size: int) -> np.ndarray:
    return np.arange(n) // size


def _ints(x, n: int) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(x)).astype(int).tolist()
    return tuple(arr * n if len(arr) == 1 else arr)


@dataclass(frozen=True)
class Tiling:
    """Tiles of `channels` x `rows` x `columns` over a population laid out as `layout`."""

    channels: int
    rows: int
    columns: int
    layout: Layout

    @property
    def counts(self) -> tuple[int, int, int]:
        c, h, w = self.layout
        return math.ceil(c / self.channels), math.ceil(h / self.rows), math.ceil(w / self.columns)

    @property
    def cores(self) -> int:
        a, b, c = self.counts
        return a * b * c

    @property
    def neurons_per_tile(self) -> int:
        return self.channels * self.rows * self.columns

    def _sizes(self) -> list[np.ndarray]:
        return [np.diff([s for s, _ in blocks(n, k)] + [n]) for n, k in zip(self.layout, (self.channels, self.rows, self.columns))]

    def tile_neurons(self) -> np.ndarray:
        return np.einsum("a,b,c->abc", *self._sizes()).astype(float)

    def tile_positions(self) -> np.ndarray:
        """[row blocks, column blocks]: positions per tile."""
        _, rows, cols = self._sizes()
        return np.outer(rows, cols).astype(float)

    def tile_of(self) -> np.ndarray:
        return self._tile_of

    @cached_property
    def _tile_of(self) -> np.ndarray:
        """Tile index of every neuron, flat channel-major."""
        c, h, w = self.layout
        _, nr, nw = self.counts
        ib, ir, iw = (block_index(n, k) for n, k in ((c, self.channels), (h, self.rows), (w, self.columns)))
        return ((ib[:, None, None] * nr + ir[None, :, None]) * nw + iw[None, None, :]).ravel()

    def tile_slices(self) -> list[tuple[slice, slice, slice]]:
        """(channels, rows, columns) slices of every tile, in tile order."""
        c, h, w = self.layout
        return [(slice(*a), slice(*b), slice(*d)) for a in blocks(c, self.channels) for b in blocks(h, self.rows)
                for d in blocks(w, self.columns)]

    def sum_per_tile(self, values: np.ndarray) -> np.ndarray:
        """Sum of a per-neuron quantity over each tile, flat in tile order."""
        v = np.asarray(values, dtype=float).reshape(self.layout)
        for axis, (n, k) in enumerate(zip(self.layout, (self.channels, self.rows, self.columns))):
            v = np.add.reduceat(v, np.arange(0, n, k), axis=axis)
        return v.ravel()


@dataclass
class TileStats:
    """Per tile, arrays [channel blocks, row blocks, column blocks]."""

    fan_in: np.ndarray  # distinct source neurons with a synapse into the tile
    synapses: np.ndarray  # every nonzero source-target pair into the tile
    kernel: np.ndarray  # weights stored with shared convolution kernels (= synapses where nothing is shared)


class SynapseGeometry:
    """One synapse node from a source layout (C_in, H_in, W_in) to a target layout (C_out, H_out, W_out)."""

    def __init__(self, node: nir.NIRNode, source: Layout, target: Layout):
        self.node, self.source, self.target = node, tuple(source), tuple(target)
        self.c_in, self.c_out = source[0], target[0]
        self.n_in, self.n_out = int(np.prod(source)), int(np.prod(target))
        if isinstance(node, CONV_NODES):
            self._init_window()
        elif isinstance(node, MATRIX_NODES):
            self.mask = np.asarray(node.weight) != 0
            self.kind = "stacked" if self.mask.ndim == 3 else "dense"
            expected = ((self.c_out, target[1] * target[2], source[1] * source[2]) if self.kind == "stacked"
                        else (self.n_out, self.n_in))
            if self.mask.shape != expected:
                raise ValueError(f"weight {self.mask.shape} does not map {source} onto {target}")
        else:
            raise TypeError(f"{type(node).__name__} is not a synapse node")
        self._cache: dict = {}

    def _cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # ---------------------------------------------------------------- windows and pointwise maps
    def _init_window(self):
        node = self.node
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            kernel = _ints(node.kernel_size, 2)
            weight = np.ones((self.c_in, 1, *kernel), dtype=bool)
            groups, stride, padding, dilation = self.c_in, _ints(node.stride, 2), node.padding, (1, 1)
        else:
            weight = np.asarray(node.weight) != 0
            groups, dilation = int(node.groups), _ints(node.dilation, weight.ndim - 2)
            stride, padding = _ints(node.stride, weight.ndim - 2), node.padding
        if isinstance(padding, str):
            raise ValueError(f"padding {padding!r}: the mapper needs integer padding")
        padding = _ints(padding, weight.ndim - 2)
        if weight.ndim == 3:  # 1-D over a row
            weight = weight[:, :, None, :]
            stride, padding, dilation = (1, *stride), (0, *padding), (1, *dilation)
        self.kh, self.kw = weight.shape[2:]
        per_in, per_out = self.c_in // groups, self.c_out // groups
        if per_in != weight.shape[1] or per_out * groups != self.c_out:
            raise ValueError(f"weight {weight.shape} with {groups} groups does not read {self.c_in} channels into {self.c_out}")
        self.nz_tap = weight.reshape(self.c_out, per_in, self.kh * self.kw).sum(axis=1).astype(float)  # [C_out, taps]
        any_tap = weight.reshape(self.c_out, per_in, -1).any(axis=2)
        self.conn = np.zeros((self.c_out, self.c_in), dtype=bool)  # output channel reads input channel
        for g in range(groups):
            rows = slice(g * per_out, (g + 1) * per_out)
            self.conn[rows, g * per_in:(g + 1) * per_in] = any_tap[rows]
        pointwise = self.kh == self.kw == 1 and stride == (1, 1) and padding == (0, 0)
        if pointwise and self.n_in // self.c_in == self.n_out // self.c_out:
            self.kind = "pointwise"  # position p reads position p of the source (flat order), any layouts
            return
        self.kind = "window"
        (_, h_in, w_in), (_, h_out, w_out) = self.source, self.target
        self.row_taps = _taps(h_in, h_out, self.kh, stride[0], padding[0], dilation[0])  # [H_in, H_out, kh]
        self.col_taps = _taps(w_in, w_out, self.kw, stride[1], padding[1], dilation[1])

    def _channel_blocks(self, cb: int):
        return self._cached(("channels", cb), lambda: self._compute_channel_blocks(cb))

    def _rows(self, size: int):
        return self._cached(("rows", size), lambda: _block_reach(self.row_taps, size))

    def _columns(self, size: int):
        return self._cached(("columns", size), lambda: _block_reach(self.col_taps, size))

    def _compute_channel_blocks(self, cb: int):
        bl = blocks(self.c_out, cb)
        reads = np.stack([self.conn[a:b].any(axis=0) for a, b in bl])  # [n_b, C_in]
        nz = np.stack([self.nz_tap[a:b].sum(axis=0) for a, b in bl])  # [n_b, taps]
        return reads, nz

    def stats(self, tiling: Tiling) -> TileStats:
        """Fan-in and stored synapses of every target tile."""
        if self.kind in ("window", "pointwise"):
            reads, nz = self._channel_blocks(tiling.channels)
            in_channels = reads.sum(axis=1).astype(float)
            if self.kind == "pointwise":
                positions = tiling.tile_positions()
                fan_in = in_channels[:, None, None] * positions[None]
                synapses = nz[:, 0][:, None, None] * positions[None]
                kernel = np.broadcast_to(nz[:, :1, None], synapses.shape).copy()
                return TileStats(fan_in, synapses, kernel)
            rows, valid_rows = self._rows(tiling.rows)  # [H_in, n_r], [n_r, kh]
            cols, valid_cols = self._columns(tiling.columns)
            fan_in = np.einsum("b,r,c->brc", in_channels, rows.sum(axis=0), cols.sum(axis=0))
            synapses = np.einsum("bij,ri,cj->brc", nz.reshape(-1, self.kh, self.kw), valid_rows, valid_cols)
            kernel = np.broadcast_to(nz.sum(axis=1)[:, None, None], synapses.shape).copy()
            return TileStats(fan_in, synapses, kernel)
        shape = tiling.counts
        if self.kind == "stacked":
            reached, nnz = self._stacked(tiling.columns)  # [C, n_q, in], [C, n_q]
            starts = np.arange(0, self.c_out, tiling.channels)
            fan_in = np.add.reduceat(reached.sum(axis=2), starts, axis=0).astype(float)
            synapses = np.add.reduceat(nnz, starts, axis=0).astype(float)
            return TileStats(fan_in.reshape(shape), synapses.reshape(shape), synapses.reshape(shape))
        reach = self._matrix_reach(tiling)  # [tiles, sources] bool
        nnz = self._matrix_nnz(tiling)
        fan_in = reach.sum(axis=1).reshape(shape).astype(float)
        return TileStats(fan_in, nnz.reshape(shape), nnz.reshape(shape))

    def _matrix_reach(self, tiling: Tiling) -> np.ndarray:
        """Dense matrix: [target tiles, sources], which sources each tile reads."""
        tile_of = tiling.tile_of()
        return np.stack([self.mask[tile_of == t].any(axis=0) for t in range(tiling.cores)])

    def _stacked(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """One matrix per channel, targets in blocks of `size`: sources each block reads [C, n_q, in], synapses [C, n_q]."""
        def compute():
            starts = np.arange(0, self.mask.shape[1], size)
            return np.logical_or.reduceat(self.mask, starts, axis=1), np.add.reduceat(self.mask.sum(axis=2), starts, axis=1)
        return self._cached(("stacked", size), compute)

    def _matrix_nnz(self, tiling: Tiling) -> np.ndarray:
        per_target = self.mask.reshape(self.n_out, -1).sum(axis=1)
        return tiling.sum_per_tile(per_target)

    # ---------------------------------------------------------------- messages
    def reach_per_source(self, tiling: Tiling) -> np.ndarray:
        """Target tiles each source neuron reaches (its output-axon entries), flat channel-major."""
        if self.kind in ("window", "pointwise"):
            reads, _ = self._channel_blocks(tiling.channels)
            channels = reads.sum(axis=0).astype(float)  # channel blocks reading each input channel
            if self.kind == "pointwise":
                return np.repeat(channels, self.n_in // self.c_in)
            rows, _ = self._rows(tiling.rows)
            cols, _ = self._columns(tiling.columns)
            return np.einsum("c,y,x->cyx", channels, rows.sum(axis=1), cols.sum(axis=1)).ravel()
        if self.kind == "stacked":
            return self._stacked(tiling.columns)[0].sum(axis=1).ravel().astype(float)
        return self._matrix_reach(tiling).sum(axis=0).astype(float)

    def deliveries(self, spikes: np.ndarray, source_tiling: Tiling | None, tiling: Tiling) -> np.ndarray:
        """Spike messages [source tile, target tile] for `spikes` per source neuron (flat, channel-major).

        A spike is sent once to every target tile that holds at least one of its targets. With no source
        tiling (the host), all sources count as one tile.
        """
        s = np.asarray(spikes, dtype=float).reshape(self.source)
        tiles = source_tiling.tile_slices() if source_tiling is not None else [(slice(None),) * 3]
        out = np.zeros((len(tiles), tiling.cores))
        if self.kind in ("window", "pointwise"):
            reads, _ = self._channel_blocks(tiling.channels)
            reads = reads.astype(float)
            n_b, n_r, n_w = tiling.counts
            if self.kind == "pointwise":
                positions = np.arange(self.source[1] * self.source[2]).reshape(self.source[1:])
                pos_tile = tiling.tile_of().reshape(self.c_out, -1)[0]  # tile of each position (channel block 0)
                for t, (cs, rs, ws) in enumerate(tiles):
                    weighted = reads[:, cs] @ s[cs, rs, ws].reshape(s[cs].shape[0], -1)  # [n_b, positions]
                    idx = pos_tile[positions[rs, ws].ravel()]
                    for b in range(n_b):
                        out[t] += np.bincount(idx + b * n_r * n_w, weights=weighted[b], minlength=tiling.cores)
                return out
            rows, _ = self._rows(tiling.rows)
            cols, _ = self._columns(tiling.columns)
            for t, (cs, rs, ws) in enumerate(tiles):
                per_channel = np.einsum("cyx,yr,xw->crw", s[cs, rs, ws], rows[rs], cols[ws])
                out[t] = np.einsum("bc,crw->brw", reads[:, cs], per_channel).ravel()
            return out
        if self.kind == "stacked":
            reached = self._stacked(tiling.columns)[0].astype(float)
            n_b, _, n_q = tiling.counts
            block_of = np.arange(self.c_out) // tiling.channels
            for t, (cs, _, ws) in enumerate(tiles):
                part = np.einsum("cqi,ci->cq", reached[cs][:, :, ws], s[cs, 0, ws])
                grid = np.zeros((n_b, n_q))
                np.add.at(grid, block_of[cs], part)
                out[t] = grid.ravel()
            return out
        reach = self._matrix_reach(tiling).astype(float)  # [target tiles, sources]
        flat_index = np.arange(self.n_in).reshape(self.source)
        flat = s.ravel()
        for t, (cs, rs, ws) in enumerate(tiles):
            idx = flat_index[cs, rs, ws].ravel()
            out[t] = reach[:, idx] @ flat[idx]
        return out


def _taps(n_in: int, n_out: int, k: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """[n_in, n_out, k]: input index i is read by output o through tap j."""
    out = np.zeros((n_in, n_out, k), dtype=bool)
    o = np.arange(n_out)
    for j in range(k):
        i = o * stride - padding + j * dilation
        ok = (i >= 0) & (i < n_in)
        out[i[ok], o[ok], j] = True
    return out


def _block_reach(taps: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output block of `size`: which inputs it reads [n_in, n_blocks] and its valid taps [n_blocks, k]."""
    starts = np.arange(0, taps.shape[1], size)
    reads = np.add.reduceat(taps.any(axis=2).astype(float), starts, axis=1) > 0
    valid = np.add.reduceat(taps.sum(axis=0).astype(float), starts, axis=0)
    return reads.astype(float), valid
