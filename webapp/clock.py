"""The one place that reads the clock (so tests can freeze it)."""

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
