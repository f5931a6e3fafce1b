"""`python -m lakeloader.cli`."""

import sys

from lakeloader.cli import main

sys.exit(main())
