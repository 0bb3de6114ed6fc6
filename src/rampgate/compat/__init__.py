"""Bridges from other flag systems into rampgate's model.

Each bridge turns another system's definitions into rampgate :class:`~rampgate.domain.model.Flag`
objects that rampgate's own engine evaluates; it imports only ``rampgate.domain`` and
``rampgate.errors``. ``rampgate.compat.growthbook`` is the first.
"""
