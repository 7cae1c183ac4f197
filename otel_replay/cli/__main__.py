"""``python -m otel_replay.cli``."""

import sys

from otel_replay.cli.main import main

sys.exit(main())
