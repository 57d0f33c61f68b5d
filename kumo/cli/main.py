"""The ``kumo`` operator command: up, down, status, bootstrap, serve, manage."""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Optional

import typer

from kumo import config

app = typer.Typer(help="kumo: an OpenStack-compatible cloud on one machine.", no_args_is_help=True,
                  add_completion=False)


def _settings(config_file: Optional[str]) -> config.Settings:
    return config.load(config_file)


@app.command()
def up(config_file: Optional[str] = typer.Option(None, "--config", help="settings file (default /etc/kumo/kumo.toml)"),
       image: Optional[str] = typer.Option(None, help="guest image to upload as 'cirros' (qcow2)"),
       demo: bool = typer.Option(True, help="create the demo project, flavors, image and network")):
    """Prepare the host, start every component in the background and create the demo data."""
    from kumo.cli import up as up_mod
    raise typer.Exit(up_mod.up(config_file, image=image, demo_data=demo))


@app.command()
def down(config_file: Optional[str] = typer.Option(None, "--config")):
    """Stop every kumo component; data and running guests are kept (unused provider bridges go)."""
    from kumo.cli import daemon
    from kumo.cli.up import release_host
    settings = _settings(config_file)
    stopped = daemon.stop(settings)
    typer.echo("kumo stopped" if stopped else "kumo was not running")
    if os.geteuid() == 0:
        for bridge in asyncio.run(release_host(settings)):
            typer.echo(f"removed bridge {bridge} (no guest on it)")


@app.command()
def status(config_file: Optional[str] = typer.Option(None, "--config")):
    """Each component up (:-)) or down (XXX), like `nova-manage service list`."""
    from kumo.cli import status as status_mod
    raise typer.Exit(asyncio.run(status_mod.show(_settings(config_file))))


@app.command()
def bootstrap(admin_password: str = typer.Option(..., envvar="KUMO_ADMIN_PASSWORD", help="password of user admin"),
              config_file: Optional[str] = typer.Option(None, "--config"),
              region: str = typer.Option("RegionOne")):
    """Create the identity basics (as `keystone-manage bootstrap`): domain, projects, roles, admin, catalog."""
    from kumo.identity.bootstrap import bootstrap as do_bootstrap
    settings = _settings(config_file)
    if not settings.service_user.password:
        typer.echo("service_user.password is not set in the settings file", err=True)
        raise typer.Exit(2)
    result = asyncio.run(do_bootstrap(settings, admin_password=admin_password,
                                      service_password=settings.service_user.password, region=region))
    typer.echo(f"bootstrapped: {result}")


@app.command()
def serve(names: list[str] = typer.Argument(..., help="component names, or 'all'"),
          config_file: Optional[str] = typer.Option(None, "--config"),
          log_file: Optional[str] = typer.Option(None, help="log to this file instead of stderr")):
    """Run components in the foreground (`all` = the whole all-in-one cloud)."""
    from kumo.cli import supervisor
    settings = _settings(config_file)
    wanted = list(supervisor.COMPONENTS) if names == ["all"] else names
    unknown = [n for n in wanted if n not in supervisor.COMPONENTS]
    if unknown:
        typer.echo(f"unknown component(s): {', '.join(unknown)}; known: {', '.join(supervisor.COMPONENTS)}",
                   err=True)
        raise typer.Exit(2)
    target = {"filename": log_file} if log_file else {"stream": sys.stderr}
    logging.basicConfig(**target, level=settings.common.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    supervisor.main(settings, wanted)


manage = typer.Typer(help="Identity maintenance, like keystone-manage (fernet-setup, fernet-rotate).",
                     no_args_is_help=True)
app.add_typer(manage, name="manage")


@manage.command("fernet-setup")
def fernet_setup(config_file: Optional[str] = typer.Option(None, "--config")):
    """Create the Fernet key repository if it holds no keys (keystone-manage fernet_setup)."""
    from kumo.identity.tokens import setup_keys
    repo = setup_keys(_settings(config_file).fernet_keys)
    typer.echo(f"fernet keys in {repo}: {', '.join(sorted(p.name for p in repo.iterdir() if p.name.isdigit()))}")


@manage.command("fernet-rotate")
def fernet_rotate(config_file: Optional[str] = typer.Option(None, "--config")):
    """Stage a new key and make the staged one primary (keystone-manage fernet_rotate).

    Tokens signed with the previous primary stay valid until their key is dropped,
    after ``[identity] max_active_keys`` - 1 more rotations. A running identity API
    picks the new keys up by itself.
    """
    from kumo.identity.tokens import rotate_keys
    settings = _settings(config_file)
    primary = rotate_keys(settings.fernet_keys, settings.identity.max_active_keys)
    typer.echo(f"fernet keys rotated: primary key is now {primary}")


if __name__ == "__main__":
    app()
