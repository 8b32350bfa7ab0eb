"""The versioned HTTP API under `/v1`, described by `/openapi.json`; `app.api.mount` builds it."""
