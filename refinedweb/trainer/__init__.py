"""The bundled Falcon trainer: model, data, loop, checkpoints and Hugging Face import/export.

Submodules import torch; this package and ``refinedweb.trainer.cli`` do not, so the refinery's
commands start without it.
"""
