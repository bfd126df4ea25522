"""Serve stage: the HTTP API (FastAPI lives only here)."""

from modelmint.serve.app import create_app

__all__ = ["create_app"]
