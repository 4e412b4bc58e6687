"""Role rules shared by the pages and the API."""

from __future__ import annotations

from webapp.models import User

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# the POSTs a read-only user may make: they change no case (a reveal only adds its record)
READ_ONLY_ALLOWED = frozenset(
    # the identifier search is posted only to keep the identifier out of URLs
    # and how a user is told of notifications is the user's own setting, changing no case
    {
        "auth.login",
        "auth.logout",
        "auth.change_password",
        "cases.reveal",
        "cases.search_identifier",
        "notifications.preferences",
    }
)


def is_read_only(user: User) -> bool:
    """Auditors (审计/纪检) read everything and change nothing, unless they also hold a
    working role."""
    return user.has_role("auditor") and not (user.role_set & {"caseworker", "supervisor", "admin"})
