"""The numba LSTM inference kernels against torch's bidirectional LSTM on random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from icefb.ml._lstm_kernel import LANE_HIDDEN, lstm_centre_head, lstm_centre_head_lanes


def _gates(m: torch.Tensor) -> torch.Tensor:
    """torch's gate order (i, f, g, o) -> the kernels' (i, f, o, g), on the first axis."""
    i, f, g, o = m.chunk(4, dim=0)
    return torch.cat([i, f, o, g], dim=0)


@pytest.mark.parametrize("n", [1, 31, 32, 33, 1000])
@pytest.mark.parametrize("half_width", [0, 1, 4])
def test_centre_kernels_equal_torch(n, half_width):
    rng = torch.Generator().manual_seed(n * 10 + half_width)
    nf, hd, k1, nc = 7, LANE_HIDDEN, 12, 3
    lstm = nn.LSTM(nf, hd, batch_first=True, bidirectional=True)
    head = nn.Sequential(nn.Linear(2 * hd, k1), nn.ReLU(), nn.Linear(k1, nc))
    with torch.no_grad():
        for p in (*lstm.parameters(), *head.parameters()):
            p.copy_(torch.randn(p.shape, generator=rng) * 0.7)
        x = torch.randn(n + 2 * half_width, nf, generator=rng)
        # reference: torch on every window, the centre step's output
        seq = x.unfold(0, 2 * half_width + 1, 1).transpose(1, 2).contiguous()
        ref = torch.softmax(head(lstm(seq)[0][:, half_width]), -1).numpy()
        # the kernels' inputs: input projection + both biases, per direction, gates i, f, o, g
        proj = []
        for sfx in ("", "_reverse"):
            w = _gates(getattr(lstm, f"weight_ih_l0{sfx}"))
            b = _gates(getattr(lstm, f"bias_ih_l0{sfx}") + getattr(lstm, f"bias_hh_l0{sfx}"))
            proj.append(x @ w.t() + b)
        proj = torch.cat(proj, dim=1).numpy()
        u = [_gates(getattr(lstm, f"weight_hh_l0{s}")).t().contiguous().numpy()
             for s in ("", "_reverse")]
        w1, b1 = head[0].weight.t().contiguous().numpy(), head[0].bias.numpy()
        w2, b2 = head[2].weight.t().contiguous().numpy(), head[2].bias.numpy()
    got = np.empty((n, nc), np.float32)
    lstm_centre_head(proj, u[0], u[1], w1, b1, w2, b2, half_width, got)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-6)
    lanes = np.full((n, nc), np.nan, np.float32)
    lstm_centre_head_lanes(proj, u[0].T.copy(), u[1].T.copy(), w1, b1, w2, b2, half_width,
                           lanes)
    np.testing.assert_allclose(lanes, ref, rtol=1e-5, atol=2e-6)
