"""Ledger intake at scale: bank ledger files (CSV in UTF-8 or GBK, XLSX) read, validated,
previewed, and imported all-or-nothing per confirmed batch."""
