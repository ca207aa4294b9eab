"""``python -m vary`` is the ``vary`` command."""

from .cli import main

raise SystemExit(main())
