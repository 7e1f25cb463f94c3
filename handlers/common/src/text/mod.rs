//! Text handling shared by indexing, search and review: the word analyzer both index adapters and the
//! highlighter agree on, structure-aware chunking, and snippets.

pub mod analyze;
pub mod chunk;
pub mod snippet;
