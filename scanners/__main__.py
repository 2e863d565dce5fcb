"""``python -m scanners PATH...``"""

import sys

from .cli import main

sys.exit(main())
