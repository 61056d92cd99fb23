"""The shop's page views, one module per feature; each adds its routes to the blueprint."""
