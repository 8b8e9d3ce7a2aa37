"""buildplat-deploy: renders a team's platform stack; the cluster services live beside it in deploy/cluster/."""

from __future__ import annotations

__version__ = "0.1.0"
