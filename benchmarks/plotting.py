"""What the benchmarks' PNG plots share: writing a finished matplotlib figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_figure(fig: Any, path: Path, dpi: int = 120) -> None:
    """Lay out ``fig`` (a matplotlib Figure), write it to ``path`` (PNG; parent folders made)
    and print where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    print(f"# plot: {path}")
