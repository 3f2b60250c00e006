"""L3, developer-experience features: plain ASGI middleware and pages."""
