"""The shop's shared tables as both architectures store them: the catalogue and
customer queries and the seed loaders.

The monolith keeps these tables in its one database, the catalog, accounts and
inventory services each in their own. One copy of the SQL guarantees the identical
queries and data a controlled comparison needs; no service reads another's database.
"""
