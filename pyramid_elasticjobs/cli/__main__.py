"""``python -m pyramid_elasticjobs.cli``: the ``elasticjobs`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
