"""The REST API (Django REST framework): thin API classes over services and selectors.

One class per operation, each with its nested input/output serializers
(HackSoftware's style). Reads go through ``orchestrator.services.selectors`` (which
apply per-user visibility), writes through ``orchestrator.services``.
"""
