"""Official letters generated on a case from the DOCX templates in ``documents/``: kinds and
who they go to (``kinds``), yearly numbers (``numbering``), rendering (``render``),
generating and listing them (``service``), who reads them (``access``)."""
