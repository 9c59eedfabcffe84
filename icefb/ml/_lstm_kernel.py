"""numba CPU kernel of the shipped LSTM's inference (centre step of a bidirectional LSTM).

``lstm_centre_head(proj, u_f, u_b, w1, b1, w2, b2, half_width, out)`` takes the gate
pre-activations of every (padded) segment for both directions (``proj``, bias included, gates
ordered i, f, o, g; computed once per segment by one matrix product), runs each direction's
recurrence over the ``half_width + 1`` steps that reach the centre of each window, applies the
head (Linear -> ReLU -> Linear) and writes the softmax probabilities. Segments are split over
threads (``numba.prange``). ``tanh`` (and the logistic function through it) is a rational
function fitted for icefb (``icefb.ml._tanh_fit``, error < 1e-6), so the probabilities equal
torch's to ~1e-6 and the activation loops vectorise.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["LANE_HIDDEN", "lstm_centre_head", "lstm_centre_head_lanes"]

_BLOCK = 512
_LANES = 32  # segments side by side in lstm_centre_head_lanes (two AVX-512 float32 vectors)
#: Hidden size :func:`lstm_centre_head_lanes` is compiled for (the shipped model's); a
#: compile-time constant, so the recurrent sum over it unrolls.
LANE_HIDDEN = 16


# tanh(x) ~= x P(x^2) / Q(x^2) on x clipped to [-9, 9]: icefb's own fit, regenerated and
# checked by ``python -m icefb.ml._tanh_fit`` (max |error| 7e-7 in float32). No exp and no
# branch, so LLVM vectorises the activation loops (numba has no vector math library here).
_CLIP = np.float32(9.0)
_P0, _P1, _P2, _P3 = (np.float32(9.999983699e-01), np.float32(1.282030171e-01),
                      np.float32(2.840635537e-03), np.float32(1.029788447e-05))
_Q1, _Q2, _Q3, _Q4 = (np.float32(4.615307398e-01), np.float32(2.335657712e-02),
                      np.float32(2.234305457e-04), np.float32(2.110406736e-07))


@numba.njit(inline="always", fastmath=True)
def _tanh(x):
    x = min(max(x, -_CLIP), _CLIP)
    s = x * x
    num = ((_P3 * s + _P2) * s + _P1) * s + _P0
    den = (((_Q4 * s + _Q3) * s + _Q2) * s + _Q1) * s + np.float32(1.0)
    return x * num / den


@numba.njit(inline="always", fastmath=True)
def _sigmoid(x):
    return np.float32(0.5) * _tanh(np.float32(0.5) * x) + np.float32(0.5)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def lstm_centre_head(proj, u_f, u_b, w1, b1, w2, b2, half_width, out):  # pragma: no cover
    """Probabilities ``out`` (n, n_classes) float32 of the centre segments.

    Parameters
    ----------
    proj : numpy.ndarray
        float32 (n + 2h, 8H): gate pre-activations (input projection plus both biases) of
        the padded rows, forward direction in columns ``0:4H``, backward in ``4H:8H``, each
        ordered i, f, o, g.
    u_f, u_b : numpy.ndarray
        float32 (H, 4H) recurrent matrices (transposed, same gate order).
    w1, b1, w2, b2 : numpy.ndarray
        float32 head: (2H, K), (K,), (K, C), (C,).
    half_width : int
        Sequence half width ``h``.
    out : numpy.ndarray
        float32 (n, C), written in place.
    """
    n = out.shape[0]
    hd = u_f.shape[0]
    gn = 4 * hd
    k1 = w1.shape[1]
    nc = w2.shape[1]
    h = half_width
    nblk = (n + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(nblk):
        hv = np.empty(2 * hd, np.float32)
        cv = np.empty(hd, np.float32)
        g = np.empty(gn, np.float32)
        hid = np.empty(k1, np.float32)
        lg = np.empty(nc, np.float32)
        for i in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            for d in range(2):
                u = u_f if d == 0 else u_b
                col = d * gn
                for t in range(h + 1):
                    k = i + t if d == 0 else i + 2 * h - t
                    for j in range(gn):
                        g[j] = proj[k, col + j]
                    if t > 0:
                        for a in range(hd):
                            ha = hv[d * hd + a]
                            for j in range(gn):
                                g[j] += ha * u[a, j]
                    # contiguous loops over the gates: vectorised
                    for j in range(3 * hd):
                        g[j] = _sigmoid(g[j])
                    for j in range(3 * hd, gn):
                        g[j] = _tanh(g[j])
                    if t == 0:
                        for a in range(hd):
                            cv[a] = g[a] * g[3 * hd + a]
                    else:
                        for a in range(hd):
                            cv[a] = g[hd + a] * cv[a] + g[a] * g[3 * hd + a]
                    for a in range(hd):
                        hv[d * hd + a] = g[2 * hd + a] * _tanh(cv[a])
            for j in range(k1):
                hid[j] = b1[j]
            for a in range(2 * hd):
                ha = hv[a]
                for j in range(k1):
                    hid[j] += ha * w1[a, j]
            _head_softmax(hid, w2, b2, lg)
            for j in range(nc):
                out[i, j] = lg[j]


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def lstm_centre_head_lanes(proj, ut_f, ut_b, w1, b1, w2, b2, half_width, out):  # pragma: no cover
    """:func:`lstm_centre_head` with ``_LANES`` segments side by side, for hidden size 16.

    Same inputs and outputs, except that the recurrent matrices come transposed: ``ut_f``,
    ``ut_b`` float32 (4H, H) with H = :data:`LANE_HIDDEN`. Gates, hidden and cell states are held
    as (row, lane) blocks, so every elementwise loop runs over the lanes and vectorises, and
    each gate's recurrent sum (unrolled over the 16 hidden units, a compile-time constant)
    stays in a register instead of being read and written once per hidden unit, which made
    the per-segment kernel wait on its own stores. Equal to :func:`lstm_centre_head` up to
    float rounding (~4e-7 in the probabilities); 1.7-1.9x faster on one beam here.
    """
    n = out.shape[0]
    hd = LANE_HIDDEN
    gn = 4 * hd
    k1 = w1.shape[1]
    nc = w2.shape[1]
    h = half_width
    lanes = _LANES
    last = proj.shape[0] - 1
    nblk = (n + lanes - 1) // lanes
    for blk in numba.prange(nblk):
        i0 = blk * lanes
        g = np.empty((gn, lanes), np.float32)
        hs = np.zeros((2 * hd, lanes), np.float32)
        cs = np.zeros((hd, lanes), np.float32)
        for d in range(2):
            ut = ut_f if d == 0 else ut_b
            col = d * gn
            for t in range(h + 1):
                off = t if d == 0 else 2 * h - t
                for s in range(lanes):
                    r = min(i0 + s + off, last)  # lanes past the end repeat the last row
                    for j in range(gn):
                        g[j, s] = proj[r, col + j]
                if t > 0:
                    for j in range(gn):
                        uj = ut[j]
                        for s in range(lanes):
                            acc = g[j, s]
                            for a in range(LANE_HIDDEN):
                                acc += hs[d * hd + a, s] * uj[a]
                            g[j, s] = acc
                for j in range(3 * hd):
                    for s in range(lanes):
                        g[j, s] = _sigmoid(g[j, s])
                for j in range(3 * hd, gn):
                    for s in range(lanes):
                        g[j, s] = _tanh(g[j, s])
                for a in range(hd):
                    for s in range(lanes):
                        c = g[a, s] * g[3 * hd + a, s]
                        if t > 0:
                            c += g[hd + a, s] * cs[a, s]
                        cs[a, s] = c
                        hs[d * hd + a, s] = g[2 * hd + a, s] * _tanh(c)
        hid = np.empty(k1, np.float32)
        lg = np.empty(nc, np.float32)
        for s in range(min(lanes, n - i0)):
            for j in range(k1):
                hid[j] = b1[j]
            for a in range(2 * hd):
                ha = hs[a, s]
                for j in range(k1):
                    hid[j] += ha * w1[a, j]
            _head_softmax(hid, w2, b2, lg)
            for j in range(nc):
                out[i0 + s, j] = lg[j]


@numba.njit(inline="always", fastmath=True)
def _head_softmax(hid, w2, b2, lg):  # pragma: no cover - compiled
    """``lg = softmax(relu(hid) @ w2 + b2)`` in place."""
    nc = lg.shape[0]
    for j in range(nc):
        lg[j] = b2[j]
    for a in range(hid.shape[0]):
        ha = max(hid[a], np.float32(0.0))
        for j in range(nc):
            lg[j] += ha * w2[a, j]
    mx = lg[0]
    for j in range(1, nc):
        mx = max(mx, lg[j])
    s = np.float32(0.0)
    for j in range(nc):
        lg[j] = np.exp(lg[j] - mx)
        s += lg[j]
    for j in range(nc):
        lg[j] = lg[j] / s
