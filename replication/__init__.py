"""Real-ESRGAN replication suite: data, degradation synthesis, networks, training, evaluation, reports.

The Python API (:mod:`replication.api`)::

    from replication import load_model, upscale_image, score_images, synthesize_pairs

Its names are imported on first use (module ``__getattr__``), so ``import replication`` and every
``replication.<module>`` import stay free of side effects and of torch (tests/test_dvc_deps.py).
"""

__version__ = "0.1.0"

API = ["Image", "load_model", "read_image", "score_images", "synthesize_pairs", "upscale_image", "write_image"]
__all__ = [*API, "__version__"]


def __getattr__(name):
    if name in API:
        import importlib

        return getattr(importlib.import_module("replication.api"), name)
    raise AttributeError(f"module 'replication' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *API])
