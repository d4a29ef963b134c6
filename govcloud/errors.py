"""Errors a user can act on. The CLI prints the message (never a traceback) and exits."""

from __future__ import annotations

from govcloud import constants


class GovcloudError(Exception):
    """An error whose message tells the operator what went wrong and what to do."""

    exit_code: int = constants.EXIT_BAD_INPUT


class BadInputError(GovcloudError):
    """The input or the request is wrong: fix it and run again (exit 2)."""

    exit_code = constants.EXIT_BAD_INPUT


class UnreachableError(GovcloudError):
    """A target (registry, cloud, lab) could not be reached (exit 3)."""

    exit_code = constants.EXIT_UNREACHABLE
