"""Messages the panes send the app."""

from __future__ import annotations

from textual.message import Message


class PairEdited(Message):
    """The selected pair changed in a form: save the session, check the pair again."""


class Say(Message):
    """A line for the log (and, with ``error``, the message under the forms)."""

    def __init__(self, text: str, *, error: bool = False):
        super().__init__()
        self.text, self.error = text, error
