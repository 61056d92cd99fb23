"""Customer queries: find by e-mail (login) and by id."""


class CustomerQueries:
    """Customers and their credentials over one psycopg2 cursor."""

    def __init__(self, cur):
        self.cur = cur

    def by_email(self, email: str) -> tuple[int, str, str, str] | None:
        """(id, email, name, password_hash) or None."""
        self.cur.execute("SELECT id, email, name, password_hash FROM customers"
                         " WHERE email = %s", (email,))
        return self.cur.fetchone()

    def get(self, customer_id: int) -> tuple[int, str, str] | None:
        """(id, email, name) or None."""
        self.cur.execute("SELECT id, email, name FROM customers WHERE id = %s", (customer_id,))
        return self.cur.fetchone()
