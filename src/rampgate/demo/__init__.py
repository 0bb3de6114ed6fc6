"""``rampgate demo``: a support agent's two candidate configs, rolled out through the real parts.

See :mod:`rampgate.demo.story` for what happens and :mod:`rampgate.demo.world` for the
simulated agent behaviour.
"""

from .story import DemoOptions, Story, run_demo

__all__ = ["DemoOptions", "Story", "run_demo"]
