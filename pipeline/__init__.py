"""yousaid: code consultation comments into themes."""
