"""`python -m cosmos_reason.jobs annotate|critic|run-batch ...` (the same as `cosmos-reason ...`)."""

import sys

from .cli import main

sys.exit(main())
