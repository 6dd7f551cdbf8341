"""Saving matplotlib figures the way every run-folder file is saved: whole or not at all."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..runs import atomic_write_bytes


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Lay out ``fig``, render it as PNG in memory, write it to a temporary name and rename it
    (never a half file, also on a full disk), and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
