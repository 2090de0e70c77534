"""Import the official BasicSR / Real-ESRGAN code for side-by-side benchmarks, when it is there.

The official packages are not dependencies of this project. Install them into a scratch folder::

    pip install --target /tmp/official --no-deps --no-build-isolation basicsr==1.4.2 realesrgan==0.3.0

(``--no-build-isolation`` stops pip from downloading a second torch to build basicsr's sdist), then
pass ``--official /tmp/official`` to a benchmark or set ``REPLICATION_OFFICIAL=/tmp/official``.
A folder with the unpacked sdist/wheel (``basicsr-1.4.2/`` and ``realesrgan_whl/``) works too.
Without either, the packages are used if they are importable as they are; otherwise benchmarks print
"not measured" and no ratio.

Two shims of our own make basicsr 1.4.2 run on current PyTorch, in the benchmark process only:

1. ``torchvision.transforms.functional_tensor`` was removed in torchvision 0.17; basicsr imports
   ``rgb_to_grayscale`` from it at import time. The shim module re-exports torchvision's current one.
2. Real-ESRGAN's ``feed_data`` filters DiffJPEG's cropped (non-contiguous) output with basicsr's
   ``filter2D``, whose ``.view()`` fails on current PyTorch; the shim passes it a contiguous copy.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

ENV = "REPLICATION_OFFICIAL"


def _install_shims() -> None:
    import torchvision.transforms.functional as tvf

    if "torchvision.transforms.functional_tensor" not in sys.modules:
        with_fn = types.ModuleType("torchvision.transforms.functional_tensor")
        with_fn.rgb_to_grayscale = tvf.rgb_to_grayscale
        sys.modules["torchvision.transforms.functional_tensor"] = with_fn


def _paths(folder: Path) -> list[str]:
    unpacked = [folder / "basicsr-1.4.2", folder / "realesrgan_whl"]
    if all(p.is_dir() for p in unpacked):
        return [str(p) for p in unpacked]
    return [str(folder)]


def load(folder: str | os.PathLike | None = None) -> tuple[types.SimpleNamespace | None, str]:
    """(namespace of the official modules, "") or (None, why not). ``folder``: see the module doc."""
    folder = folder or os.environ.get(ENV) or None
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            return None, f"official code folder {folder} not found"
        sys.path[:0] = [p for p in _paths(folder) if p not in sys.path]
    try:
        _install_shims()
        basicsr_version = importlib.import_module("basicsr.version").__version__
        from basicsr.archs.discriminator_arch import UNetDiscriminatorSN
        from basicsr.archs.rrdbnet_arch import RRDBNet
        from basicsr.data import degradations
        from basicsr.utils import DiffJPEG, USMSharp
        from basicsr.utils.img_process_util import filter2D
        from realesrgan.models import realesrgan_model
        from realesrgan.models.realesrgan_model import RealESRGANModel
        from realesrgan.models.realesrnet_model import RealESRNetModel
    except Exception as exc:  # ImportError, or an incompatibility of the official code with this torch
        return None, f"official code not importable ({type(exc).__name__}: {exc})"
    if not getattr(realesrgan_model.filter2D, "_contiguous_shim", False):
        original = realesrgan_model.filter2D

        def contiguous_filter2d(img, kernel):
            return original(img.contiguous(), kernel)

        contiguous_filter2d._contiguous_shim = True
        realesrgan_model.filter2D = contiguous_filter2d
        importlib.import_module("realesrgan.models.realesrnet_model").filter2D = contiguous_filter2d
    return (
        types.SimpleNamespace(
            version=f"basicsr {basicsr_version}",
            degradations=degradations,
            DiffJPEG=DiffJPEG,
            USMSharp=USMSharp,
            filter2D=filter2D,
            Model=RealESRGANModel,
            NetModel=RealESRNetModel,
            RRDBNet=RRDBNet,
            UNetDiscriminatorSN=UNetDiscriminatorSN,
        ),
        "",
    )


__all__ = ["ENV", "load"]
