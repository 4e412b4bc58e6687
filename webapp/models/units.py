from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import Base


class Unit(Base):
    """A responsible unit (责任单位): a lane owner in the diagrams."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    # office, department, bank, guarantor, township, employer
    kind: Mapped[str] = mapped_column(String(20), index=True)

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") else self.name_zh
