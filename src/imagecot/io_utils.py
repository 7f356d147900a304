"""Atomic writes: a killed run never leaves a half-written file or folder behind."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        normal_file_mode(tmp)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_png(path: str | os.PathLike, image) -> None:
    """Save a PIL image (or uint8 HxWx3 array) as PNG atomically."""
    from PIL import Image
    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def normal_file_mode(path: str | os.PathLike) -> None:
    """rw for the owner, readable by others as the umask allows (some writers create 0600)."""
    os.chmod(path, 0o666 & ~_umask())


def make_temp_dir(final_dir: Path) -> Path:
    """A fresh folder beside `final_dir` to write into before `replace_dir`."""
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}."))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    return tmp


def recover_dir(final_dir: Path) -> None:
    """Finish an interrupted `replace_dir`: if `final_dir` is missing but `<final>.old` exists, restore it."""
    final_dir = Path(final_dir)
    old = final_dir.with_name(final_dir.name + ".old")
    if not final_dir.exists() and old.exists():
        os.replace(old, final_dir)


def replace_dir(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written `tmp_dir` to `final_dir`, replacing the folder there.

    Two renames: final -> final.old, tmp -> final. A kill between them leaves
    only final.old, which `recover_dir` (called by every reader) puts back; the
    old copy is deleted only once the new one is in place.
    """
    final_dir = Path(final_dir)
    recover_dir(final_dir)
    old = final_dir.with_name(final_dir.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final_dir.exists():
        os.replace(final_dir, old)
    os.replace(tmp_dir, final_dir)
    if old.exists():
        shutil.rmtree(old)
