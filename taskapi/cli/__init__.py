"""Admin commands: thin click wrappers over the services, one module per command group."""

from flask import Flask


def register(app: Flask) -> None:
    from taskapi.cli.apikeys import apikeys_cli
    from taskapi.cli.seed import seed_command
    from taskapi.cli.serve import serve_command
    from taskapi.cli.users import users_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(apikeys_cli)
    app.cli.add_command(serve_command)
    app.cli.add_command(seed_command)
