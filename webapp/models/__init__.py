"""Typed SQLAlchemy models, one module per aggregate.

Relationships that are only read are ``viewonly``: the code sets foreign keys, and each
writable relationship costs every flush a dependency check (a step's flush is hot).
"""

from webapp.models.bulletins import Bulletin
from webapp.models.calendar import CalendarYear
from webapp.models.cases import Attachment, Case, CaseParticipant, Debtor, Loan, Notification, Sanction
from webapp.models.documents import Document, DocumentNumber
from webapp.models.events import CaseEvent, ChainHead
from webapp.models.imports import IdempotencyKey, ImportBatch, ImportRow
from webapp.models.listings import CaseLink, CourtListing
from webapp.models.mail import OutboxMail
from webapp.models.processes import ProcessVersion
from webapp.models.progress import Repayment, Withholding
from webapp.models.summaries import SummaryRequest, SummaryRound
from webapp.models.tasks import Task
from webapp.models.units import Unit
from webapp.models.users import ApiToken, LoginFailure, User

__all__ = [
    "ApiToken",
    "Attachment",
    "Bulletin",
    "CalendarYear",
    "Case",
    "CaseEvent",
    "CaseLink",
    "CaseParticipant",
    "ChainHead",
    "CourtListing",
    "Debtor",
    "Document",
    "DocumentNumber",
    "IdempotencyKey",
    "ImportBatch",
    "ImportRow",
    "Loan",
    "LoginFailure",
    "Notification",
    "OutboxMail",
    "ProcessVersion",
    "Repayment",
    "Sanction",
    "SummaryRequest",
    "SummaryRound",
    "Task",
    "Unit",
    "User",
    "Withholding",
]
