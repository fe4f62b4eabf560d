"""SUA score, misalignment and U_sua (sua_exp.core.sua)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sua_exp.core import sua_plus, sua_score, u_sua


def test_hand_values() -> None:
    s = torch.tensor([0.8, 0.1, 0.5])
    hn = torch.tensor([0.2, 0.6, 0.5])
    torch.testing.assert_close(sua_score(s, hn), torch.tensor([0.6, -0.5, 0.0]))
    torch.testing.assert_close(sua_score(s, hn, lam=0.5), torch.tensor([0.7, -0.2, 0.25]))
    torch.testing.assert_close(sua_plus(s, hn), torch.tensor([0.6, 0.0, 0.0]))
    # U = Hn + alpha [S - Hn]+ ; alpha = 1 -> max(Hn, S); alpha = .5 -> .2 + .3 = .5
    torch.testing.assert_close(u_sua(hn, s), torch.tensor([0.8, 0.6, 0.5]))
    torch.testing.assert_close(u_sua(hn, s, alpha=0.5), torch.tensor([0.5, 0.6, 0.5]))
    torch.testing.assert_close(u_sua(hn, s, alpha=0.0), hn)


_unit = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(_unit, _unit), min_size=1, max_size=8),
    st.floats(0.0, 5.0, allow_nan=False),
    st.floats(0.0, 3.0, allow_nan=False),
)
def test_sua_properties(pairs, alpha: float, lam: float) -> None:
    s = torch.tensor([a for a, _ in pairs], dtype=torch.float64)
    hn = torch.tensor([b for _, b in pairs], dtype=torch.float64)
    u = u_sua(hn, s, alpha=alpha)
    assert (u >= hn).all()
    torch.testing.assert_close(u_sua(hn, s, alpha=1.0), torch.maximum(hn, s), atol=1e-15, rtol=0)
    plus = sua_plus(s, hn, lam=lam)
    assert (plus >= 0).all()
    torch.testing.assert_close(plus, sua_score(s, hn, lam=lam).clamp(min=0))
    # U is monotone in alpha
    assert (u_sua(hn, s, alpha=alpha + 1.0) >= u).all()
