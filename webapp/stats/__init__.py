"""Figures the task force reports: statistics read from the projected tables."""
