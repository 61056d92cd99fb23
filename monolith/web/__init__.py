"""The web tier: thin API views over the service layer."""
