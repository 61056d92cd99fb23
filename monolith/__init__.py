"""The tiered monolith: web (thin views) -> services (business layer) -> data (one database)."""
