"""Writing outputs all at once: a folder or a file is complete, or not there at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import AllocatorError

__all__ = ["atomic_folder", "atomic_write_text"]


@contextmanager
def atomic_folder(out: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; when the block ends without error it replaces
    `out` (only with `force` if `out` exists), otherwise it is removed and `out` untouched."""
    out = Path(out)
    if out.exists() and not force:
        raise AllocatorError(f"{out}: already exists; choose another --out or add --force "
                             "to replace it")
    if out.exists() and not out.is_dir():
        raise AllocatorError(f"{out}: is a file, not a folder; choose another --out")
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as exc:
        raise AllocatorError(f"{out}: cannot write there: {exc.strerror}") from None
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | Path, text: str, *, force: bool = False) -> Path:
    """Write `text` to `path` through a temporary file beside it, replacing an existing
    file only with `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise AllocatorError(f"{path}: already exists; choose another --out or add --force")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise AllocatorError(f"{path}: cannot write there: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
