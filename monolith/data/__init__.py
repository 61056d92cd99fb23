"""The data tier: schema, repositories over psycopg2 and the unit of work."""
