"""Recordings on disk: OTLP JSON lines and protobuf codecs, the exporter, the loader.

May import: ``core``, ``model``.
"""
