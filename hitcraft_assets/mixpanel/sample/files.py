"""write_export_files: the simulator's events as Mixpanel export NDJSON files, one per UTC day."""

from __future__ import annotations

import gzip as _gzip
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .simulator import Simulator

__all__ = ["write_export_files"]


def write_export_files(sim: Simulator, start: date, end: date, out_dir: Path, *, gzip: bool = False) -> list[Path]:
    """Write `export-YYYY-MM-DD.ndjson[.gz]` for each UTC day in [start, end] (inclusive, like the export API).

    Lines are exactly the export API's (time in UTC seconds, every event regardless of ingestion time).
    Each file is written to a temporary name and renamed, so a crash never leaves a partial file.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    d = start
    while d <= end:
        s = datetime(d.year, d.month, d.day, tzinfo=UTC)
        path = out_dir / f"export-{d.isoformat()}.ndjson{'.gz' if gzip else ''}"
        tmp = path.with_name(path.name + ".tmp")
        with _gzip.open(tmp, "wb", compresslevel=6) if gzip else open(tmp, "wb") as fh:
            for chunk, _ in sim.ndjson_chunks(s, s + timedelta(days=1)):
                fh.write(chunk)
        os.replace(tmp, path)
        paths.append(path)
        d += timedelta(days=1)
    return paths
