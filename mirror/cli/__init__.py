"""hubgate's command line: `main` parses and dispatches; `remote` talks to a running server's API,
`local` works on the data directory and database directly (`hubgate = mirror.cli:main`)."""

from mirror.cli.main import main

__all__ = ["main"]
