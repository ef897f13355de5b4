"""`python -m carpages_reco train [--every 45m]`: see carpages_reco.cli."""

from __future__ import annotations

import sys

from carpages_reco.cli import main

if __name__ == "__main__":
    sys.exit(main())
