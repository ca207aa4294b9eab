"""The ``vary`` command.

``vary IMAGE`` (short for ``vary create IMAGE``) makes variations, ``vary edit`` changes the
masked part of a picture, ``vary styles`` lists the named styles (``--sheet`` draws them),
``vary serve`` runs the OpenAI-compatible server and ``vary keys`` manages its API keys.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import imaging
from ._pipeline import check_mask, draw_seed, load_picture, output_size, vary_image
from ._version import __version__
from .config import Settings
from .engines import (
    PRECISIONS,
    RUNTIMES,
    Controls,
    StyleEngine,
    choose_runtime,
    load_engine,
)
from .engines._styles import STYLES
from .errors import VaryError

if TYPE_CHECKING:
    from .api.keys import KeyInfo

__all__ = ["main"]

_COMMANDS = ("serve", "keys", "create", "edit", "styles")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}


def _in_range(text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(_in_range(text, 1, 10))


def _compression(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(_in_range(text, 0, 100))


def _count_from_zero(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number from 0, got {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, got {text!r}")
    return int(text)


def _strength(text: str) -> float:
    return _in_range(text, 0, 1)


def _size(text: str) -> str:
    try:
        output_size(text, (1, 1))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_making_options(command: argparse.ArgumentParser) -> None:
    """The options every command that makes pictures shares."""
    command.add_argument("image", type=Path, help="the picture (PNG, JPEG, WebP, GIF, BMP, TIFF)")
    command.add_argument("-n", type=_count, default=1, help="how many, 1-10 (default: 1)")
    command.add_argument(
        "--size",
        type=_size,
        default="1024x1024",
        help="WxH (64-2048) or auto (default: %(default)s)",
    )
    command.add_argument("--fit", choices=imaging.FITS, default="cover", help="default: cover")
    command.add_argument(
        "--seed", type=_count_from_zero, help="seed of the first picture (default: random)"
    )
    command.add_argument("--strength", type=_strength, help="0 (input) to 1 (full look); 0.85")
    command.add_argument("--style", help="a style name (see 'vary styles') or 'a:0.6,b:0.4'")
    command.add_argument("--style-image", type=Path, help="take the look of this picture")
    command.add_argument("--preserve-color", action="store_true", help="keep the input's colours")
    command.add_argument("--format", choices=imaging.OUTPUT_FORMATS, default="png")
    command.add_argument("--compression", type=_compression, help="0-100 (see the README)")
    command.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="default: here")
    _add_runtime_options(command)


def _add_runtime_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--runtime", choices=RUNTIMES, default="auto", help="what runs the network (default: auto)"
    )
    command.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="bf16 needs OpenVINO (default: auto)",
    )


def _parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="vary",
        description="Image variations on your CPU, and an OpenAI-compatible server for them. "
        "'vary photo.jpg -n 4' is short for 'vary create photo.jpg -n 4'.",
    )
    parser.add_argument("--version", action="version", version=f"vary {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{create,edit,styles,serve,keys}")

    create = commands.add_parser("create", help="make variations of a picture (the default)")
    _add_making_options(create)
    create.add_argument("--prompt", help="words that pick the styles, e.g. 'blue ink'")

    edit = commands.add_parser("edit", help="change the masked part of a picture")
    _add_making_options(edit)
    edit.add_argument("--prompt", required=True, help="words that pick the styles")
    edit.add_argument("--mask", type=Path, help="PNG: its transparent pixels may change")

    styles = commands.add_parser("styles", help="list the named styles")
    styles.add_argument("--sheet", type=Path, help="also draw them all into this PNG")
    styles.add_argument("--image", type=Path, help="the picture for the sheet (default: a cat)")

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
        type=_positive,
        default=defaults.url_ttl,
        help="seconds a URL stays valid (default: %(default)s)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept this key (repeatable; also VARY_API_KEYS, comma-separated), as well as "
        "the keys of 'vary keys create'",
    )
    serve.add_argument("--public-url", help="base of returned URLs (default: the host clients use)")
    serve.add_argument("--threads", type=_positive, help="inference threads (default: 1 per core)")
    _add_runtime_options(serve)
    serve.add_argument(
        "--max-queue",
        type=_count_from_zero,
        default=defaults.max_queue,
        help="image requests that may wait for the engine; past that, 429 (default: %(default)s)",
    )
    serve.add_argument(
        "--rate-limit-requests",
        type=_count_from_zero,
        default=0,
        metavar="N",
        help="image requests per minute per key (default: unlimited)",
    )
    serve.add_argument(
        "--rate-limit-images",
        type=_count_from_zero,
        default=0,
        metavar="N",
        help="images per minute per key (default: unlimited)",
    )
    serve.add_argument(
        "--strict-openai",
        action="store_true",
        help="OpenAI's fields accept only what OpenAI accepts (3 sizes, square PNG < 4 MB)",
    )
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve on a non-loopback address even with no API key: anyone who reaches it can "
        "use it",
    )

    keys = commands.add_parser("keys", help="create, list and revoke the server's API keys")
    key_commands = keys.add_subparsers(
        dest="keys_command", metavar="{create,list,revoke}", required=True
    )
    key_create = key_commands.add_parser("create", help="make a key; it is printed only once")
    key_create.add_argument("--name", required=True, help="1-64 of A-Z a-z 0-9 . _ -")
    key_list = key_commands.add_parser("list", help="the keys: names and fingerprints, no keys")
    key_revoke = key_commands.add_parser("revoke", help="stop accepting a key, at once")
    key_revoke.add_argument("name", help="the key's name")
    for command in (key_create, key_list, key_revoke):
        command.add_argument(
            "--data-dir",
            type=Path,
            default=defaults.data_dir,
            help="the server's data dir (default: %(default)s)",
        )
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .api import create_app
    from .api.auth import is_loopback
    from .api.keys import KeyStore
    from .api.server import serve

    settings = dataclasses.replace(
        Settings(),
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        url_ttl=args.url_ttl,
        public_url=args.public_url,
        threads=args.threads,
        runtime=args.runtime,
        precision=args.precision,
        strict_openai=args.strict_openai,
        max_queue=args.max_queue,
        requests_per_minute=args.rate_limit_requests,
        images_per_minute=args.rate_limit_images,
    )
    if args.api_keys:
        settings = dataclasses.replace(settings, api_keys=tuple(args.api_keys))
    store = KeyStore(settings.data_dir)
    with contextlib.closing(store), _key_errors(store.path):
        keyed = bool(settings.api_keys) or store.has_active_keys()
    if not keyed and not is_loopback(settings.host):
        if not args.insecure_no_auth:
            print(
                f"vary: error: refusing to serve on {settings.host} without an API key, since "
                "anyone who can reach it could use it: create one with 'vary keys create "
                f"--name NAME --data-dir {settings.data_dir}' (or pass --api-key KEY), or pass "
                "--insecure-no-auth",
                file=sys.stderr,
            )
            return 2
        print(f"vary: warning: serving on {settings.host} with no API key", file=sys.stderr)
    # Fail before starting the server when the runtime asked for cannot run here.
    runtime, precision = choose_runtime(settings.runtime, settings.precision)
    base = f"http://{settings.host}:{settings.port}"
    auth = '"sk-...")  # one of your API keys' if keyed else '"any")  # no key needed'
    print(
        f"vary {__version__}: loading the engine ({runtime}, {precision}), then serving on "
        f"{base}\n"
        f"  browser:       {base}/docs\n"
        f'  OpenAI client: OpenAI(base_url="{base}/v1", api_key={auth}',
        file=sys.stderr,
        flush=True,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(create_app(settings), settings)
    return 0


@contextlib.contextmanager
def _key_errors(path: Path) -> Iterator[None]:
    """Report a broken or locked key database in one line, like any other error."""
    try:
        yield
    except sqlite3.Error as exc:
        raise VaryError(f"{path}: {exc}") from None


def _keys(args: argparse.Namespace) -> int:
    from .api.keys import KeyStore

    store = KeyStore(args.data_dir)
    with contextlib.closing(store), _key_errors(store.path):
        if args.keys_command == "create":
            # The key alone on stdout, so that KEY=$(vary keys create --name ci) works.
            print(store.create(args.name))
            print(f"vary: created key {args.name!r}; it will not be shown again", file=sys.stderr)
        elif args.keys_command == "list":
            _print_keys(store.list(), store.path)
        elif store.revoke(args.name):
            print(f"vary: revoked key {args.name!r}", file=sys.stderr)
        else:
            raise VaryError(f"no active key named {args.name!r} in {store.path}")
    return 0


def _print_keys(keys: list[KeyInfo], path: Path) -> None:
    if not keys:
        print(f"no keys in {path}: create one with 'vary keys create --name NAME'", file=sys.stderr)
        return
    when = "%Y-%m-%d %H:%M:%S UTC"
    rows = [("NAME", "CREATED", "STATUS", "FINGERPRINT")] + [
        (
            key.name,
            key.created_at.strftime(when),
            "active" if key.revoked_at is None else f"revoked {key.revoked_at.strftime(when)}",
            key.fingerprint,
        )
        for key in keys
    ]
    width = [max(len(row[column]) for row in rows) for column in range(3)]
    for name, created, status, fingerprint in rows:
        print(f"{name:<{width[0]}}  {created:<{width[1]}}  {status:<{width[2]}}  {fingerprint}")


def _progress(done: int, total: int, stream: TextIO) -> None:
    width = 24
    filled = width * done // total
    end = "\n" if done == total else ""
    bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} pictures"
    print(f"\r{bar}", end=end, file=stream, flush=True)


def _make(args: argparse.Namespace) -> int:
    picture = load_picture(args.image)
    mask = load_picture(args.mask) if getattr(args, "mask", None) else None
    if mask is not None:
        check_mask(mask, picture)
    controls = Controls(
        strength=args.strength,
        style=args.style,
        prompt=args.prompt,
        style_image=load_picture(args.style_image).convert("RGB") if args.style_image else None,
    )
    size = output_size(args.size, picture.size)
    seed = draw_seed() if args.seed is None else args.seed
    engine = load_engine(runtime=args.runtime, precision=args.precision)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    _progress(0, args.n, sys.stderr)
    made = vary_image(
        engine,
        picture,
        n=args.n,
        size=size,
        seed=seed,
        controls=controls,
        fit=args.fit,
        preserve_color=args.preserve_color,
        mask=mask,
    )
    for done, variation in enumerate(made, start=1):
        path = args.output_dir / f"{args.image.stem}-{variation.seed}.{_EXTENSIONS[args.format]}"
        path.write_bytes(imaging.encode(variation.image, args.format, args.compression))
        _progress(done, args.n, sys.stderr)
        print(path)
    return 0


def _styles(args: argparse.Namespace) -> int:
    width = max(len(style.name) for style in STYLES)
    for style in STYLES:
        pool = "*" if style.in_default_pool else " "
        print(f"{style.id:>2} {pool} {style.name:<{width}}  {style.description}")
    print("\n* in the default pool: plain variations draw from these.")
    if args.sheet:
        from ._sheet import sample_picture, style_sheet

        picture = load_picture(args.image) if args.image else sample_picture()
        style_sheet(StyleEngine.from_pretrained(), picture).save(args.sheet)
        print(f"sheet: {args.sheet}", file=sys.stderr)
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
    run = {"serve": _serve, "keys": _keys, "styles": _styles}.get(args.command, _make)
    try:
        return run(args)
    except (OSError, ImportError, VaryError) as exc:
        detail = (
            f"{exc.strerror}: {exc.filename}"
            if isinstance(exc, OSError) and exc.strerror
            else str(exc)
        )
        print(f"vary: error: {detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
