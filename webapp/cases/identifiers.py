"""Debtor identifiers: resident identity numbers (GB 11643) and unified social credit
codes (GB 32100), checked with python-stdnum."""

from __future__ import annotations

from flask_babel import gettext as _
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from webapp.errors import Invalid

PERSON_KINDS = ("individual", "official")


def normalize(debtor_kind: str, identifier: str) -> str:
    """The compact, validated identifier; ``Invalid`` naming the field otherwise."""
    module = ric if debtor_kind in PERSON_KINDS else uscc
    try:
        return str(module.validate(identifier))
    except ValidationError as err:
        if debtor_kind in PERSON_KINDS:
            message = _("Not a valid resident identity number (%(reason)s).", reason=_reason(err))
        else:
            message = _("Not a valid unified social credit code (%(reason)s).", reason=_reason(err))
        raise Invalid(message, {"identifier": [message]}) from err


def _reason(err: ValidationError) -> str:
    name = type(err).__name__
    return {
        "InvalidChecksum": _("wrong check character"),
        "InvalidLength": _("wrong length"),
        "InvalidFormat": _("wrong format"),
        "InvalidComponent": _("invalid date or region"),
    }.get(name, _("invalid"))


def mask(identifier: str) -> str:
    """3401**********1234: the first four and last four characters shown."""
    if len(identifier) <= 8:
        return "*" * len(identifier)
    return identifier[:4] + "*" * (len(identifier) - 8) + identifier[-4:]
