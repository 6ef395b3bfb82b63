"""Rate-limit counts kept in the service's own PostgreSQL, shared by every replica."""
