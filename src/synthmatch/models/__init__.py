"""The learned estimator: from a log-mel and the probe to a whole Vital preset.

Torch-free (inference needs only numpy and onnxruntime):

* :mod:`synthmatch.models.layout` — :class:`~synthmatch.models.layout.EstimatorLayout` (heads
  generated from the parameter space), training targets, the probe convention, ONNX names;
* :mod:`synthmatch.models.decode` — model outputs → :class:`~synthmatch.vital.preset.Preset`;
* :mod:`synthmatch.models.vocab` — the wavetable vocabulary and ``wavetables.npz``;
* :mod:`synthmatch.models.configs` — the named configs (``debug``, ``small``, ``large``).

torch (the ``train`` extra): :mod:`~synthmatch.models.encoders` (registry),
:mod:`~synthmatch.models.network`, :mod:`~synthmatch.models.losses`,
:mod:`~synthmatch.models.builders` (configs → modules), :mod:`~synthmatch.models.checkpoint`,
:mod:`~synthmatch.models.export` (ONNX and the model card). Training lives in :mod:`synthmatch.train`.
"""
