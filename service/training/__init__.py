"""Training cohorts: sessions, participants, attendance, completion and follow-up."""
