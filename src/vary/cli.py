"""The ``vary`` command: ``vary serve`` runs the server, ``vary IMAGE`` makes variations."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from . import imaging
from ._pipeline import draw_seed, parse_size, vary_image
from ._version import __version__
from .config import Settings
from .engines import load_engine
from .errors import VaryError

__all__ = ["main"]

_COMMANDS = ("serve", "create")


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="vary",
        description="Image variations on your CPU, and an OpenAI-compatible server for them. "
        "'vary photo.jpg -n 4' is short for 'vary create photo.jpg -n 4'.",
    )
    parser.add_argument("--version", action="version", version=f"vary {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{serve,create}")

    serve = commands.add_parser("serve", help="run the OpenAI-compatible HTTP server")
    serve.add_argument(
        "--host", default=defaults.host, help="address to bind (default: %(default)s)"
    )
    serve.add_argument("--port", type=int, default=defaults.port, help="default: %(default)s")
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=defaults.data_dir,
        help="images and URL secret (default: %(default)s)",
    )
    serve.add_argument(
        "--url-ttl",
        type=int,
        default=defaults.url_ttl,
        help="seconds a URL stays valid (default: %(default)s)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept this key (repeatable; also VARY_API_KEYS, comma-separated); none: no auth",
    )
    serve.add_argument("--public-url", help="base of returned URLs (default: the host clients use)")
    serve.add_argument("--threads", type=int, help="inference threads (default: one per core)")

    create = commands.add_parser("create", help="make variations of an image (the default)")
    create.add_argument(
        "image", type=Path, help="the picture to vary (PNG, JPEG, WebP, GIF, BMP, TIFF)"
    )
    create.add_argument("-n", type=_count, default=1, help="how many variations, 1-10 (default: 1)")
    create.add_argument("--size", type=_size, default=(1024, 1024), help="WxH (default: 1024x1024)")
    create.add_argument("--seed", type=int, help="seed of the first variation (default: random)")
    create.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="default: here")
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .api import create_app

    settings = dataclasses.replace(
        Settings(),
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        url_ttl=args.url_ttl,
        public_url=args.public_url,
        threads=args.threads,
    )
    if args.api_keys:
        settings = dataclasses.replace(settings, api_keys=tuple(args.api_keys))
    base = f"http://{settings.host}:{settings.port}"
    auth = "one of your --api-key keys" if settings.api_keys else '"any" (no key needed)'
    print(
        f"vary {__version__}: loading the engine, then serving on {base}\n"
        f"  browser:       {base}/docs\n"
        f'  OpenAI client: OpenAI(base_url="{base}/v1", api_key={auth})',
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def _progress(done: int, total: int, stream: TextIO) -> None:
    width = 24
    filled = width * done // total
    end = "\n" if done == total else ""
    print(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} variations",
        end=end,
        file=stream,
        flush=True,
    )


def _create(args: argparse.Namespace) -> int:
    picture = imaging.decode(args.image.read_bytes())
    seed = draw_seed() if args.seed is None else args.seed
    engine = load_engine()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    _progress(0, args.n, sys.stderr)
    for i in range(args.n):
        # Variation i of a batch is the only variation of seed + i, so one at a time is the same.
        (variation,) = vary_image(engine, picture, n=1, size=args.size, seed=seed + i)
        path = args.output_dir / f"{args.image.stem}-{seed + i}.png"
        path.write_bytes(imaging.encode_png(variation))
        _progress(i + 1, args.n, sys.stderr)
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] not in _COMMANDS and not arguments[0].startswith("-"):
        arguments.insert(0, "create")
    parser = _parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return _serve(args) if args.command == "serve" else _create(args)
    except (OSError, VaryError) as exc:
        detail = (
            f"{exc.strerror}: {exc.filename}"
            if isinstance(exc, OSError) and exc.strerror
            else str(exc)
        )
        print(f"vary: error: {detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
