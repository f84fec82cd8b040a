"""OFREP, the OpenFeature Remote Evaluation Protocol (docs/ofrep.md), without a web framework:
``evaluation`` (request bodies, answers and ETags over a compiled ``flagplane.engine.Snapshot``),
``access`` (which key may see what, from which origins), ``cors`` (browser headers) and
``snapshots`` (the compiled document per environment). ``controlplane/api/ofrep.py`` serves them
over HTTP; a lean ASGI edge can mount the same functions."""
