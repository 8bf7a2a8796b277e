"""``faceedit serve``: the web page and REST API (FastAPI + uvicorn), on localhost by default."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import List, Optional

import typer

from faceedit.threads import set_threads
from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.options import ModelOpt
from faceedit.errors import FaceEditError
from faceedit.invert.methods import DEFAULT_METHOD, get_method, methods_help


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: this machine only)"),
    port: int = typer.Option(7860, "--port", "-p", help="TCP port"),
    model: ModelOpt = "default",
    directions: Optional[str] = typer.Option(None, "--directions", help="folder of fitted directions (default: "
                                             "the ones shipped or fitted for the model)"),
    invert_method: str = typer.Option(DEFAULT_METHOD, "--invert-method",
                                      help=f"photo inversion: {methods_help()}"),
    invert_steps: Optional[int] = typer.Option(None, "--invert-steps", help="optimisation steps per upload"),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="encoder for photo uploads: a faceedit "
                                           ".safetensors, a pSp/e4e .pt (e.g. e4e_ffhq_encode.pt) or a registry "
                                           "name (default: the shipped one when it fits the model)"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: torch's choice)"),
    max_sessions: int = typer.Option(64, "--max-sessions", help="faces kept in memory (least recently used go)"),
    session_minutes: float = typer.Option(60.0, "--session-minutes", help="forget a face idle this long"),
    queue: int = typer.Option(16, "--queue", help="renders queued at once before answering 503 (busy)"),
    client_sessions: Optional[int] = typer.Option(None, "--client-sessions",
                                                  help="faces one client keeps (default: a quarter of "
                                                       "--max-sessions); a client evicts only its own faces"),
    token: Optional[str] = typer.Option(None, "--token", envvar="FACEEDIT_TOKEN", show_envvar=True,
                                        help="access token every request must carry (open /?token=TOKEN once in "
                                             "the browser; API: 'Authorization: Bearer TOKEN'); also "
                                             "$FACEEDIT_TOKEN. Use it beyond localhost"),
    allow_host: Optional[List[str]] = typer.Option(None, "--allow-host",
                                                   help="a DNS name the server may be reached by (the Host header "
                                                        "is checked against the listen address; repeatable)"),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level"),
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Serve the web page and REST API: `faceedit serve` then open http://127.0.0.1:7860 (API at /docs)."""
    try:
        import uvicorn

        from faceedit.web import create_app
    except ImportError as exc:
        raise FaceEditError(f"the web app needs {exc.name}: pip install 'faceedit[web]'") from None
    from faceedit import api

    if not 0 < port < 65536:
        raise FaceEditError(f"--port must be 1-65535, got {port}")
    if max_sessions < 1 or queue < 1 or session_minutes <= 0:
        raise FaceEditError("--max-sessions and --queue must be at least 1, --session-minutes above 0")
    if client_sessions is not None and not 1 <= client_sessions <= max_sessions:
        raise FaceEditError(f"--client-sessions must be from 1 to --max-sessions ({max_sessions})")
    if token is not None and (len(token) < 8 or len(token) > 512 or not token.isprintable() or " " in token
                              or ";" in token):
        raise FaceEditError("--token must be 8 to 512 printable characters without spaces or ';'")
    if threads is not None:
        if threads < 1:
            raise FaceEditError("--threads must be at least 1")
        set_threads(threads)
    m = on_device(api.load(model), device, precision)
    dirs = None
    if directions is not None:
        from faceedit.edit.directions import load_directions

        dirs = load_directions(m, directions)
    invert_options = {"method": get_method(invert_method, "--invert-method").name}
    if invert_steps is not None:
        invert_options["steps"] = invert_steps
    if encoder is not None:  # loaded once here, not per upload
        from faceedit.invert.encoder import load_encoder

        invert_options["encoder"] = load_encoder(encoder, m)[0]
    app = create_app(m, dirs, invert_options=invert_options, max_sessions=max_sessions,
                     max_age_s=session_minutes * 60, max_pending=queue, host=host, allowed_hosts=allow_host or (),
                     token=token, max_client_sessions=client_sessions)
    state = app.state.faceedit
    for what, note in (("attribute edits", state.directions_note), ("photo upload", state.inverter_note)):
        if note:
            print(f"note: {what} unavailable: {note}", file=sys.stderr)
    if not _loopback(host) and token is None:
        print(f"warning: listening on {host} without --token: anyone who can reach this address can use the "
              "server", file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    login = " — open /?token=<your token> once" if token else ""
    print(f"faceedit: serving {m.describe()} on http://{shown}:{port}{login} (API reference at /docs); Ctrl+C "
          "stops", file=sys.stderr)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    except OSError as exc:
        raise FaceEditError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
