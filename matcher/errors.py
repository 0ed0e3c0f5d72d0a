"""One family of errors, each naming where the bad input is and what was expected.

Batches collect :class:`RecordError` objects and go on; only errors that make a whole
run meaningless (an invalid policy tree, an unreadable file) stop it.
"""

from __future__ import annotations


class PolicyMatchError(Exception):
    """Base of every error this project raises on purpose."""


class RecordError(PolicyMatchError):
    """A single input record is unusable; the rest of the batch goes on.

    ``where`` is ``file:line`` (or a record key), ``field`` the offending field.
    """

    def __init__(self, where: str, field: str | None, message: str) -> None:
        self.where = where
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        field = f" field '{self.field}'" if self.field else ""
        return f"{self.where}:{field} {self.message}"


class ConditionError(PolicyMatchError):
    """A condition tree (or benefit) that cannot be evaluated.

    ``path`` locates the node like ``conditions.all[2].op`` so a policy officer can
    find it in the JSON.
    """

    def __init__(self, policy_id: str | None, path: str, message: str) -> None:
        self.policy_id = policy_id
        self.path = path
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        who = f"policy '{self.policy_id}' " if self.policy_id else ""
        return f"{who}{self.path}: {self.message}"
