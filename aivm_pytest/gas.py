"""The gas report: every transaction's receipt gas, by contract and function, printed with rich."""
from __future__ import annotations

import io
import statistics
from collections import defaultdict


class GasLog:
    def __init__(self) -> None:
        self.samples: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))

    def record(self, contract: str, function: str, gas: int) -> None:
        self.samples[contract][function].append(gas)

    def __bool__(self) -> bool:
        return bool(self.samples)

    def render(self, width: int = 100) -> str:
        """One rich table per contract: function, calls, min, median, max."""
        from rich.console import Console
        from rich.table import Table

        buf = io.StringIO()
        console = Console(file=buf, width=width, force_terminal=False, color_system=None)
        for contract in sorted(self.samples):
            table = Table(title=f"{contract} gas", title_justify="left")
            table.add_column("function")
            for col in ("calls", "min", "median", "max"):
                table.add_column(col, justify="right")
            for fn in sorted(self.samples[contract]):
                gas = self.samples[contract][fn]
                table.add_row(fn, str(len(gas)), f"{min(gas):,}", f"{int(statistics.median(gas)):,}", f"{max(gas):,}")
            console.print(table)
        return buf.getvalue()
