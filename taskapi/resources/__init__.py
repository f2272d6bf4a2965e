"""HTTP resources: one package per resource, each a blueprint (routes.py) and its schemas."""
