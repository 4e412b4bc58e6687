"""User-task forms: JSON Schema files in ``forms/``, rendered and validated server-side."""

from webapp.taskforms.schemas import FormSchema, load_schema, resolve_schema
from webapp.taskforms.validation import coerce_form, validate

__all__ = ["FormSchema", "coerce_form", "load_schema", "resolve_schema", "validate"]
