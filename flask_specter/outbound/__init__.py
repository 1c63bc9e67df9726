"""The shop to Specter: session listeners write outbox rows in the shop's own transaction, the relay pushes
them after commit (claimed, retried, ordered), the exporters turn each row into Specter calls, and the
bulk exports send the whole catalogue or customer list in resumable pages."""
