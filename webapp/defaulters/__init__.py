"""The judgment-defaulter process's own module (seed 004): the court's listing of a
defaulter, one by one, by file or by API. The process itself (restrictions per unit, the
police's written answer to a refusal-to-execute referral, the exit) is its diagram
(processes/judgment_defaulter.bpmn) and data (webapp/data/restrictions.toml,
processes/catalog.toml)."""

PROCESS = "judgment_defaulter"
