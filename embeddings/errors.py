"""Errors of the embeddings layer, in the project's one family (:class:`PolicyMatchError`)."""

from __future__ import annotations

from matcher.errors import PolicyMatchError


class EmbeddingModelError(PolicyMatchError):
    """A model file or folder is missing, unreadable or not what it claims to be.

    ``where`` names the file or folder and ``what`` the part that is wrong, so the message
    tells an operator which file to replace or which build to rerun.
    """

    def __init__(self, where: str, what: str, message: str) -> None:
        self.where = where
        self.what = what
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: {self.message}"
