"""Due dates on a working-day calendar, reminders, escalation and supervision."""
