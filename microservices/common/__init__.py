"""What every service shares: the app factory (probes, request ids, access log, the
service-token guard), service tokens, and the inter-service HTTP client."""
