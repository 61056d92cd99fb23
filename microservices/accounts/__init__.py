"""The accounts service: customers, their credentials, and customer tokens."""
