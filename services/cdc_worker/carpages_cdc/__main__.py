"""`python -m carpages_cdc` / `cdc_worker`: see carpages_cdc.cli."""

from __future__ import annotations

import sys

from carpages_cdc.cli import main

if __name__ == "__main__":
    sys.exit(main())
