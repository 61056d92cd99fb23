"""The customer's e-mails: what the shop's outgoing mailbox holds about their orders."""


def email_view(row) -> dict:
    """The API's Email for a mailbox row."""
    return {"id": row.id, "to": row.recipient, "subject": row.subject, "body": row.body,
            "sent_at": row.created_at.isoformat(), "order_id": row.order_id, "kind": row.kind}


def list_emails(uow, customer_id: int, page: int, per_page: int) -> dict:
    """One page of the e-mails sent about the customer's orders, newest first."""
    with uow:
        rows, total = uow.invoices.emails_for_customer(customer_id, per_page,
                                                       (page - 1) * per_page)
    return {"items": [email_view(r) for r in rows], "page": page, "per_page": per_page,
            "total": total}
