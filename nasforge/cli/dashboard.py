"""``nasforge dashboard RUN``: optuna-dashboard over a live Optuna-format mirror of a search's study.

nasforge dashboard runs/rea                     # http://127.0.0.1:8080, until Ctrl-C
nasforge dashboard runs/rea --port 0 --json     # a free port; the URL as JSON on the first line

The mirror is ``RUN/optuna.journal`` (an Optuna journal file), written by ``nasforge search`` as its trials
finish (``integrations.optuna.live_mirror``, when the ``optuna`` extra is installed) and brought up to date by
this command (``StudyMirror.sync``): both write it from ``study.db`` through the study's read API; Optuna never
opens ``study.db``. While the dashboard runs it re-reads the study every ``--interval`` seconds, so a search
still running in RUN shows its new trials (and, with several workers, the ones in flight as RUNNING). Needs the
``optuna`` extra.
"""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import add_json_flag, emit
from nasforge.errors import ConfigError, NasforgeError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dashboard", help="optuna-dashboard on a search run (live while the search runs)")
    p.add_argument("run", metavar="RUN", help="run directory written by 'nasforge search --out'")
    p.add_argument("--port", type=argtypes.int_range(0, 65535), default=8080,
                   help="TCP port (default 8080; 0 = any free port)")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--interval", type=argtypes.finite_float(0.1, 3600.0), default=1.0, metavar="SECONDS",
                   help="how often the mirror re-reads the study (default 1)")  # fmt: skip
    add_json_flag(p)
    p.set_defaults(func=cmd_dashboard)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # one line per HTTP request would bury the URL


def cmd_dashboard(args: argparse.Namespace) -> int:
    from nasforge.integrations.optuna import EXTRA_HINT, StudyMirror, import_optuna, quiet_logs, read_study

    import_optuna()
    try:
        import optuna_dashboard
    except ModuleNotFoundError as exc:
        if exc.name != "optuna_dashboard":
            raise
        raise ConfigError(f"optuna-dashboard is not installed; {EXTRA_HINT}") from None
    quiet_logs()
    run = Path(args.run)
    read_study(run)  # RUN must be a study, and the port free, before the mirror's journal is created
    server = _bind(args.host, args.port)
    try:
        mirror = StudyMirror(run)
        count = mirror.sync()
        app = optuna_dashboard.wsgi(mirror.storage)
        server.set_app(app)
        port = server.server_address[1]
        url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{port}/"
        payload = {"url": url, "run": str(run), "mirror": str(mirror.path), "trials": count}
        emit(args, payload, f"optuna-dashboard on {url} ({count} trials mirrored in {mirror.path}); Ctrl-C stops it")
        sys.stdout.flush()
        stop = threading.Event()
        thread = threading.Thread(target=_keep_synced, args=(mirror, args.interval, stop), daemon=True)
        thread.start()
        # `kill` stops it cleanly (exit code 0), also mid-request: shutdown() waits for serve_forever's loop,
        # so it must come from another thread than the one serving.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
    finally:
        server.server_close()
    return 0


def _bind(host: str, port: int) -> WSGIServer:
    """The server, listening: a port in use or an unknown host is one error line (nothing written yet)."""
    server_class = WSGIServer
    if ":" in host:
        server_class = type("WSGIServerV6", (WSGIServer,), {"address_family": socket.AF_INET6})
    try:
        return make_server(host, port, None, server_class=server_class, handler_class=_QuietHandler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use; choose another with --port (0 = any free port)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port") from None


def _keep_synced(mirror: Any, interval: float, stop: threading.Event) -> None:
    """Re-read the study every ``interval`` s; a failed read (the run was being replaced) is retried."""
    reported = None
    while not stop.wait(interval):
        try:
            mirror.sync()
            reported = None
        except NasforgeError as exc:
            if str(exc) != reported:  # once per distinct problem, not once a second
                print(f"nasforge: warning: cannot update the mirror: {exc}", file=sys.stderr)
                reported = str(exc)
