"""One error hierarchy for the core.

Every error carries a message for the person at the till, already translated
through gettext (French by default). The UI shows ``str(error)`` as it is.
"""

from __future__ import annotations


class AlamaraError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message


class NotFound(AlamaraError):
    """A receipt, an order, a product, a member of staff... that does not exist."""


class InvalidInput(AlamaraError):
    """Malformed input: a barcode with a wrong check digit, an absurd quantity."""


class PolicyRefused(AlamaraError):
    """The returns policy refuses this (reason codes name the rule, e.g. R09)."""


class PermissionDenied(AlamaraError):
    """The person logged in may not do this, or the PIN is wrong."""


class Conflict(AlamaraError):
    """Someone else (another till, another process) got there first."""


class ConfigError(AlamaraError):
    """A bad value in the till's configuration file; the message names the key."""


class IntegrityFailure(AlamaraError):
    """The fiscal journal does not verify."""


class StorageError(AlamaraError):
    """The cache, a file or HQ failed below the core (corrupt, read-only or full
    cache, full disk, unreachable HQ); the message says it in French
    (:func:`pos_returns.failures.as_alamara`)."""
