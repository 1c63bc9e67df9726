"""Specter to the shop: the callbacks Specter calls, the pulls they start (fetch, store, confirm the batch),
and the jobs that apply what was stored: stock in paced chunks, article data, order events, invoices."""
