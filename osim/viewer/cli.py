"""``osim replay serve``: its arguments and handler (importing this module needs no web stack)."""

from __future__ import annotations

import argparse
import socket
import sys

from osim import checks
from osim.checks import UserError
from osim.viewer.leaderboard_hook import find_hook

DEFAULT_PORT = 8765
LOCAL_HOSTS = ("127.0.0.1", "localhost")  # the names a local server answers to (as osim.viewer.app)


def add_arguments(q: argparse.ArgumentParser, default_store: str) -> None:
    q.add_argument("--store", default=default_store, help="replay store (DuckDB file), opened read-only")
    q.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    q.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind; anything but localhost lets other machines read the store (no login)",
    )
    q.set_defaults(func=cmd_serve)


def _check_address(host: str, port: int) -> None:
    """A port in use or an address this machine does not have is a one-line error, not a server log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise UserError(
                f"cannot listen on {host}:{port} ({reason}); pass another --port or --host"
            ) from exc


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from osim.viewer.app import create_app
    except ImportError as exc:
        raise UserError(f"the viewer needs the [viewer] extra: pip install 'osim[viewer]' ({exc})") from exc
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    with checks.open_store(args.store, read_only=True):
        pass  # a missing file or one that is not a store is a one-line error, before the server starts
    _check_address(args.host, args.port)
    if args.host not in LOCAL_HOSTS:
        print(
            f"osim: warning: serving on {args.host}: anyone who can reach this address can read every "
            "episode in the store (there is no login)",
            file=sys.stderr,
        )
    hosts = LOCAL_HOSTS if args.host in LOCAL_HOSTS else ("*",)  # another host: any name reaches it
    app = create_app(args.store, leaderboard=find_hook(), allowed_hosts=hosts)
    url = f"http://{args.host}:{args.port}/"
    print(f"osim replay viewer: {url} (store {args.store}, read-only; Ctrl-C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
