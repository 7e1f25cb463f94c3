//! Org and API key store suites.
