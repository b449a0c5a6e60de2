"""The one exception root for user mistakes, and the one for a value that breaks a rule."""

from __future__ import annotations


class LtsError(Exception):
    """Bad input from the user: a file, a value, a model bundle.

    The CLI prints its message as one line and exits with status 2; the message says what
    was wrong and what to do.
    """


FIELD_WORDS = {
    "sources": "sources", "offset": "offset", "duration": "duration", "mode": "mode", "alphas": "α values",
    "curve": "α curve", "weights": "weights", "grid": "grid size", "grid_range": "grid range",
    "cc_x": "pad X controller", "cc_y": "pad Y controller", "root": "root note", "quality": "quality",
    "n_iter": "iterations", "round_robins": "round robins", "seed": "seed", "loop": "loop", "model": "model", "out": "output folder",
}
"""A render request's fields (:class:`lts_sampler.kits.plan.RenderRequest`) in plain words."""


class BadValue(LtsError):
    """A value of a render request that breaks a rule: ``field`` names it (a request field,
    :data:`FIELD_WORDS`), ``value`` is as given, ``rule`` says what is allowed. ``source``: the
    index of the source it belongs to, for a per-source value; ``value`` None: the rule is
    about the field as a whole. The message uses plain words;
    a face words it its own way with :meth:`worded` (a flag, a form field's label)."""

    def __init__(self, field: str, value, rule: str, *, source: int | None = None):
        self.field, self.value, self.rule, self.source = field, value, rule, source
        super().__init__(self.worded(FIELD_WORDS.get(field, field)))

    def worded(self, name: str) -> str:
        """The message with ``name`` for the field: ``"--round-robins 0: give 1 or more"``."""
        if self.value is None or self.value == "":
            return f"{name}: {self.rule}"
        shown = repr(self.value) if isinstance(self.value, str) else self.value
        return f"{name} {shown}: {self.rule}"
