"""WSGI entry point."""

from taskapi import create_app

app = create_app()
