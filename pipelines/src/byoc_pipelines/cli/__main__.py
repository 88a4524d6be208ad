"""``python -m byoc_pipelines.cli``."""

import sys

from byoc_pipelines.cli import main

sys.exit(main())
