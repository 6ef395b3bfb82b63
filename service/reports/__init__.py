"""Region-scoped reports: each module computes one report as rows, which the API renders as JSON
or CSV. Reports only read; they take the caller so the region rule cannot be forgotten."""
