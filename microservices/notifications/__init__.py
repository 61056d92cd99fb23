"""The notifications service: the shop's outgoing mailbox. "Sending" an e-mail stores it
in a table a person can read (nothing leaves the machine), once per message key."""
