"""The invoices service: an invoice per paid order (from the orders service's "order paid"
events), printed to the spool or, when printing fails, e-mailed through the notifications
service; pending deliveries are retried by its worker process."""
