"""Degradation synthesis of LQ/GT training pairs (see docs/degradation.md).

Modules: ``config`` (params section), ``draws`` (explicit-generator sampling), ``kernels``,
``filters``, ``resize``, ``noise``, ``jpeg``, ``usm``, ``crop``, ``pool``, ``second_order``
(second- and first-order pipelines), ``bsrgan``, ``pipeline`` (``Degrader``), ``preview``, ``cli``.
Nothing is imported here, so importing the package has no cost or side effect.
"""
