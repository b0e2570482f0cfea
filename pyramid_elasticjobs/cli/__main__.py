"""``python -m pyramid_elasticjobs.cli``: the ``elasticjobs`` command."""

import sys

from . import main

sys.exit(main())
