"""Lambda packaging: stage only the shipped source files, then hand the folder to TerraformAsset.

cdktf hashes an asset folder by file contents; a ``__pycache__`` left by a test run, an editor swap
file or a test module would change the hash (and the zip). Staging a filtered copy makes the asset
hash a function of the committed ``.py`` files only, on any checkout.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from cdktf import AssetType, TerraformAsset
from constructs import Construct

from modules.settings import PROJECT_ROOT

LAMBDAS_DIR = PROJECT_ROOT / "lambdas"
SHIPPED_SUFFIXES = (".py", ".json")


def _shipped(path: Path) -> bool:
    return (path.suffix in SHIPPED_SUFFIXES and "__pycache__" not in path.parts
            and not path.name.startswith(("test_", ".")) and path.name != "conftest.py")


@lru_cache(maxsize=None)
def _staging_root() -> Path:
    """One private folder per synth process (concurrent synths must not share one); cdktf copies
    the zips into the output folder, so the staging copy is not needed after the process ends."""
    root = Path(tempfile.mkdtemp(prefix="payments-lambda-src-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def stage_source(source: Path, name: str, extra_files: tuple[Path, ...] = ()) -> Path:
    """Copy the shipped files of ``source``, and ``extra_files`` beside them, into a fresh staging
    folder named ``name``."""
    target = _staging_root() / name
    if target.exists():
        shutil.rmtree(target)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and _shipped(relative):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)  # contents only: no times, no modes
    if not target.exists():
        raise FileNotFoundError(f"no shipped source files in {source}")
    for path in extra_files:
        shutil.copyfile(path, target / path.name)
    return target


def lambda_asset(scope: Construct, id: str, source_dir: str, extra_files: tuple[Path, ...] = ()) -> TerraformAsset:
    """A zip asset of ``lambdas/<source_dir>`` holding only its shipped files (and ``extra_files``,
    e.g. the merchants' reference client the canary uses, kept in one place: docs/api/client/)."""
    staged = stage_source(LAMBDAS_DIR / source_dir, source_dir.replace("/", "-"), extra_files)
    return TerraformAsset(scope, id, path=str(staged), type=AssetType.ARCHIVE)
