"""Atomic writes, strict JSON, and output paths checked before any work.

A killed run never leaves a half-written file or folder behind: every file is
written to a temporary beside it (`.<name>.<8 random>.tmp`, a file or a
folder) and renamed into place; `clean_stale_temporaries` removes the ones a
kill left. JSON is written with `allow_nan=False`: NaN and Infinity are not
JSON, so a non-finite number is an error that names its key, not a file other
readers reject.
"""

from __future__ import annotations

import glob
import io
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")   # what mkstemp/mkdtemp make with our prefix and suffix


def brief(e: BaseException) -> str:
    """An exception as one short clause: its type and the first sentence of its first line."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else "no detail"
    return f"{type(e).__name__}: {text.split('. ')[0].rstrip('.')}"


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


def _non_finite_keys(obj, where: str = "") -> list[str]:
    if isinstance(obj, float) and not math.isfinite(obj):
        return [where or "the value"]
    if isinstance(obj, dict):
        return [k for key, v in obj.items() for k in _non_finite_keys(v, f"{where}.{key}" if where else str(key))]
    if isinstance(obj, (list, tuple)):
        return [k for i, v in enumerate(obj) for k in _non_finite_keys(v, f"{where}[{i}]")]
    return []


def to_json(obj, indent: int | None = None, sort_keys: bool = False) -> str:
    """json.dumps that refuses NaN and Infinity (not JSON) with an error naming where they are."""
    bad = _non_finite_keys(obj)
    if bad:
        raise ValueError(f"non-finite number(s) at {', '.join(bad[:5])}: NaN and Infinity are not valid JSON")
    return json.dumps(obj, indent=indent, sort_keys=sort_keys, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, to_json(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike, expected: str = "a JSON file"):
    """The JSON in `path`; a broken file is a ValueError that names it and what was expected."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                         f"expected {expected}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text; expected {expected}") from None


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
    tmp = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}.", suffix=".tmp"))
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


def clean_stale_temporaries(root: str | os.PathLike) -> int:
    """Remove the temporaries a killed writer left under `root`, and `root`'s own half-made replacements beside
    it (ours only: `.<name>.<8 random>.tmp`). Call it only when no other writer works in `root`. Returns how
    many were removed."""
    root = Path(root)
    inside = root.rglob(".*.tmp") if root.is_dir() else []
    beside = root.parent.glob(f".{glob.escape(root.name)}.*.tmp") if root.parent.is_dir() else []
    stale = [p for p in [*inside, *beside] if TEMP_NAME.match(p.name)]
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(stale)


def check_writable(path: str | os.PathLike, kind: str = "file") -> Path:
    """Before any work: `path` can become a `kind` ("file" or "folder") this user may write.
    Raises ValueError naming the path and what was expected."""
    path = Path(path)
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file; expected a folder (a new one, or one this command wrote before)")
    if kind == "file" and path.is_dir():
        raise ValueError(f"{path} is a folder; expected a file name to write")
    probe = path if kind == "folder" and path.is_dir() else path.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"cannot write {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: no write permission in {probe}")
    if kind == "file" and path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"cannot write {path}: the file is read-only")
    return path
