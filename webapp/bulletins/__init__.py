"""Periodic bulletins (通报): weekly, monthly and quarterly by the worker, on demand by the
office; kept, numbered per year, shown as a printable page and exported as XLSX."""
