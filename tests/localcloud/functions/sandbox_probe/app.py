"""Tries what Lambda's sandbox forbids or bounds: multiprocessing.Pool, parallel_map, writes to its
code folder, its layer and /tmp; reports each outcome (an errno, or "ok")."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

from lambda_toolkit.parallel_map import parallel_map

CHUNK = b"\0" * (1 << 20)


def _square(number: int) -> int:
    return number * number


def _outcome(action: Any) -> dict[str, Any]:
    try:
        return {"ok": action()}
    except OSError as error:
        return {"errno": error.errno, "message": str(error)}


def _pool() -> list[int]:
    with multiprocessing.Pool(2) as pool:
        return pool.map(_square, range(4))


def _write(path: Path) -> str:
    path.write_text("written")
    path.unlink()
    return "written"


def _fill_tmp(megabytes: int) -> int:
    """Writes megabytes to /tmp (then removes them): how far a function's /tmp goes."""
    path = Path("/tmp/fill")
    try:
        with path.open("wb") as file:
            for _ in range(megabytes):
                file.write(CHUNK)
                file.flush()
        return megabytes
    finally:
        path.unlink(missing_ok=True)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task_root = Path(os.environ["LAMBDA_TASK_ROOT"])
    layer = Path(event["layer_dir"])
    return {
        "dev_shm_exists": os.path.exists("/dev/shm"),
        "pool": _outcome(_pool),
        "parallel_map": _outcome(lambda: parallel_map(_square, range(4), workers=2)),
        "write_code_dir": _outcome(lambda: _write(task_root / "written.txt")),
        "write_relative": _outcome(lambda: _write(Path("relative.txt"))),
        "write_layer": _outcome(lambda: _write(layer / "written.txt")),
        "write_tmp": _outcome(lambda: _write(Path("/tmp/written.txt"))),
        "tmp_size_mb": os.statvfs("/tmp").f_bavail * os.statvfs("/tmp").f_frsize // (1 << 20),
        "fill_tmp": _outcome(lambda: _fill_tmp(event["fill_tmp_mb"])) if event.get("fill_tmp_mb") else None,
    }
