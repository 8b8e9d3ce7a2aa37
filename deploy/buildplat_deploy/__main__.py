from __future__ import annotations

import sys

from buildplat_deploy.cli import main

sys.exit(main())
