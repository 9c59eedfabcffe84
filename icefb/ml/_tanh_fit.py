"""Fit of the rational ``tanh`` used by the LSTM inference kernel (``icefb.ml._lstm_kernel``).

The kernel needs a ``tanh`` that LLVM can vectorise without a vector math library (numba has
no SVML here): no ``exp``, no branch. It uses

    tanh(x) ~= x * P(x**2) / Q(x**2),   x clipped to [-X, X],

with ``P`` of degree 3 and ``Q`` of degree 4 in ``s = x**2`` (``Q(0) = 1``). This module
derives the coefficients from scratch so they can be checked and regenerated::

    python -m icefb.ml._tanh_fit

Method: on a dense grid of ``(0, X]`` the rational least-squares problem is linearised
(minimise ``|x P(s) - tanh(x) Q(s)|`` with ``Q(0) = 1``) and re-weighted by ``1 / |Q|`` of the
previous iterate (Sanathanan-Koerner), so it converges to the true rational least-squares
fit; Lawson's multiplicative update of the point weights (``w *= sqrt(|err| / max|err|)``)
pushes it toward the minimax (equal-ripple) fit. All coefficients come out positive, so
Horner's rule in float32 has no cancellation: the float32 error stays within a few ulp of 1
(< 1e-6 absolute, checked by the tests), well below the LSTM's weight precision.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_tanh_rational", "rational_tanh"]


def fit_tanh_rational(p_degree: int = 3, q_degree: int = 4, clip: float = 9.0,
                      n_points: int = 20_000, iterations: int = 60
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients of ``tanh(x) ~= x P(x^2) / Q(x^2)`` on ``[-clip, clip]``.

    Parameters
    ----------
    p_degree, q_degree : int
        Degrees of ``P`` and ``Q`` in ``s = x**2``.
    clip : float
        Fit range; the kernel clips its argument to it (``tanh(9)`` is 1 in float32 to
        within 3e-8).
    n_points : int
        Grid points on ``(0, clip]`` (the fit is odd by construction).
    iterations : int
        Re-weighting iterations.

    Returns
    -------
    p : numpy.ndarray
        float64 ``(p_degree + 1,)``, lowest degree first.
    q : numpy.ndarray
        float64 ``(q_degree + 1,)``, lowest degree first, ``q[0] == 1``.
    max_error : float
        Largest absolute error on the grid (float64 evaluation).
    """
    x = np.linspace(0.0, clip, n_points + 1)[1:]
    t = np.tanh(x)
    s = x * x
    sp = s[:, None] ** np.arange(p_degree + 1)
    sq = s[:, None] ** np.arange(1, q_degree + 1)
    design = np.hstack([x[:, None] * sp, -t[:, None] * sq])
    q_prev = np.ones_like(x)
    lawson = np.ones_like(x)
    err = np.zeros_like(x)
    p = q = np.zeros(0)
    for _ in range(iterations):
        w = lawson / q_prev
        c, *_ = np.linalg.lstsq(design * w[:, None], t * w, rcond=None)
        p = c[: p_degree + 1]
        q = np.r_[1.0, c[p_degree + 1 :]]
        qv = np.polyval(q[::-1], s)
        err = x * np.polyval(p[::-1], s) / qv - t
        q_prev = np.abs(qv)
        lawson = lawson * np.sqrt(np.abs(err) / np.abs(err).max()) + 1e-300
        lawson *= x.size / lawson.sum()
    return p, q, float(np.abs(err).max())


def rational_tanh(x: np.ndarray, p: np.ndarray, q: np.ndarray, clip: float = 9.0) -> np.ndarray:
    """Evaluate the fit in float32 exactly as the kernel does (clip, Horner in ``x**2``).

    Parameters
    ----------
    x : numpy.ndarray
        Arguments (cast to float32).
    p, q : numpy.ndarray
        Coefficients from :func:`fit_tanh_rational`, lowest degree first.
    clip : float
        Clip bound of the fit.

    Returns
    -------
    numpy.ndarray
        float32 ``tanh(x)`` approximation.
    """
    c = np.float32(clip)
    x = np.clip(np.asarray(x, np.float32), -c, c)
    s = x * x
    num = np.full_like(x, np.float32(p[-1]))
    for a in p[-2::-1]:
        num = num * s + np.float32(a)
    den = np.full_like(x, np.float32(q[-1]))
    for b in q[-2::-1]:
        den = den * s + np.float32(b)
    return x * num / den


if __name__ == "__main__":  # pragma: no cover - regeneration aid
    p, q, e = fit_tanh_rational()
    grid = np.linspace(-12.0, 12.0, 2_000_001, dtype=np.float32)
    e32 = np.abs(rational_tanh(grid, p, q) - np.tanh(grid.astype(np.float64))).max()
    print("P =", ", ".join(f"{v:.9e}" for v in p))
    print("Q =", ", ".join(f"{v:.9e}" for v in q))
    print(f"max |error|: float64 {e:.2e}, float32 {e32:.2e}")
