from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import now
from webapp.db import Base


class ProcessVersion(Base):
    """A deployed process definition, stored once per content hash.

    Cases keep only their instance state and point here for the definition
    (ENGINE_NOTES: half the size and time of saving the definition with every case).
    """

    __tablename__ = "process_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(80), index=True)
    content_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # the BPMN files as deployed ({filename: xml}), for the case diagram and replay
    bpmn_xml: Mapped[str] = mapped_column(Text)
    # the serialized spec and subprocess specs (SpiffWorkflow JSON)
    spec_json: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
