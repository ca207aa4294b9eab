"""The HTTP server: OpenAI's image variations endpoint and what goes with it."""

from .app import create_app

__all__ = ["create_app"]
