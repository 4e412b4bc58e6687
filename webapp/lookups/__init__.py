"""Blacklist look-ups (seed 004 §四(二)): banks and units check a counterparty before lending,
procurement, registration or a property transfer."""
