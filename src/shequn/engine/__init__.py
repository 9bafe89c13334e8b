"""Engine (引擎): events through the ordered policies to actions and derived state, with an injected clock.

Owns: :class:`Engine`, :func:`replay` and the workspace configuration the engine runs on.
May import: ``domain``, ``playbook``, ``policies``. No I/O: the store and the outbox sit outside it.
"""

from shequn.engine.config import WorkspaceConfig, build_community_config
from shequn.engine.engine import Engine, replay

__all__ = ["Engine", "WorkspaceConfig", "build_community_config", "replay"]
