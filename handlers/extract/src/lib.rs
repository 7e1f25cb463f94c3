//! Text extraction (being written).
