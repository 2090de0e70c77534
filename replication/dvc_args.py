"""Values that ``dvc.yaml`` commands need but DVC's templating cannot compute.

Used inside stage commands as ``$(python -m replication.dvc_args KIND ...)``::

    image-dir ROOT NAME     the folder holding dataset NAME's images under download root ROOT
                            (registry layout: views, archives' extracted/ folders, HR/ subfolders)
    source MODEL            the tidy ``source`` of an official model file: ``official-fp16-rounded``
                            when its sidecar says the weights were rounded to fp16 (ncnn import),
                            else ``official``

(Profile values are read with ``replication params --get KEY``.) Errors print a clear message and
exit with status 2, so the stage fails instead of running with an empty argument.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from replication.errors import UserError


def image_dir(root: str, name: str) -> Path:
    from replication.data.registry import image_dir as registry_image_dir

    return registry_image_dir(root, name)


def official_source(model: str) -> str:
    sidecar = Path(model).with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{sidecar}: model sidecar not found (fetch the model with `replication weights fetch`)"
        ) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{sidecar}: invalid JSON: {exc}") from None
    return "official-fp16-rounded" if meta.get("fp16_rounded") else "official"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if len(argv) == 3 and argv[0] == "image-dir":
            print(image_dir(argv[1], argv[2]))
        elif len(argv) == 2 and argv[0] == "source":
            print(official_source(argv[1]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
