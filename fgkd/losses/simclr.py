"""SimCLR's NT-Xent loss (LEAD Table 5's SimCLR baseline)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent loss, a scalar (mean over the 2N views).

    With z = normalise([z1; z2]) [2N, D] and s(i, j) = z_i . z_j / tau, for view i with partner p(i):
    ``l(i) = -log( exp(s(i, p(i))) / sum_{j != i} exp(s(i, j)) )``.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 differ in shape: {tuple(z1.shape)} vs {tuple(z2.shape)}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # [2N, D]
    sim = z @ z.T / temperature  # [2N, 2N]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # [2N]
    return F.cross_entropy(sim, partner)
