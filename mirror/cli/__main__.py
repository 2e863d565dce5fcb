"""`python -m mirror.cli ...`, as the tests, the bench and the image run it."""

from mirror.cli.main import main

raise SystemExit(main())
