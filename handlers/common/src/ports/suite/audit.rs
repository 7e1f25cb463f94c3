//! The audit trail suite (filled in by the audit work).
