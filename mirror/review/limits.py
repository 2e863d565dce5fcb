"""How long hubgate grants anything without a new decision: a waiver, and a token made on the command line.

Its own module, free of imports, so that the command line checks the same bound without loading the server.
"""

from __future__ import annotations

from datetime import timedelta

# A year and a day: a yearly re-approval can be made before the last one lapses.
MAX_WAIVER = timedelta(days=366)
