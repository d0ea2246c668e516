"""Medusa v2 stores, through the Admin API (entry point `medusa`)."""

from .sink import MedusaSink

__all__ = ["MedusaSink"]
