"""The core every phase builds on: the stage contract, the fused executor, counters, output and I/O helpers.

It imports only ``refinedweb.schema`` and ``refinedweb.config`` (tests/test_layers.py checks it), so
the tokenizer and the trainer reach the atomic writers and the Ray start helper without loading the
refinery's stages (numba, lxml, warcio).
"""
