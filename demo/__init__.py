"""The demo domain's small CRM: listings, contacts, sales, showing slots, and the
operations that action cards run once the user confirms."""
