"""Files to download: the GLB as it is, and the OBJ with its material and texture as one zip."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from dream3d.app.runs import RunRecord
from dream3d.atomic import atomic_path
from dream3d.naming import slugify


def obj_bundle(record: RunRecord, state_dir: Path) -> Path | None:
    """``<prompt>_obj.zip`` holding ``model.obj``, ``model.mtl`` and ``texture.png`` (made once per export)."""
    if not record.mesh_files:
        return None
    stamp = max(p.stat().st_mtime_ns for p in record.mesh_files)
    key = hashlib.sha1(f"{record.run_dir.resolve()}|{stamp}".encode()).hexdigest()[:16]
    target = Path(state_dir) / "downloads" / key / f"{slugify(record.prompt)}_obj.zip"
    if not target.is_file():
        with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in record.mesh_files:
                bundle.write(path, path.name)
    return target
