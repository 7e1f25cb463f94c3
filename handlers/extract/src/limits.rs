//! The limits one extraction runs under, and how they travel to the worker on its command line.

use std::fmt;

/// Limits for one extraction. The parent passes them to the worker as `--name=value` flags
/// ([`Limits::to_args`]); the worker reads them back ([`Limits::parse_flag`]) and applies the
/// process limits (`memory`, `cpu_seconds`, `open_files`) to itself before it reads the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of input read from stdin; more is `too_large`.
    pub max_input: u64,
    /// Pages of a PDF (from its page tree, before extraction); more is `too_large`.
    pub max_pages: u64,
    /// Characters (Unicode scalar values) of output; more is `too_large`.
    pub max_chars: u64,
    /// Inflated bytes of one DOCX part (`word/document.xml`, `word/numbering.xml`), declared or
    /// actually read; more is `too_large`.
    pub max_inflated: u64,
    /// Entries in a DOCX's ZIP central directory; more is `too_large`.
    pub max_zip_entries: u64,
    /// The worker's address-space limit (`RLIMIT_AS`), in bytes.
    pub memory: u64,
    /// The worker's CPU-time limit (`RLIMIT_CPU`), in seconds; over it the kernel sends `SIGXCPU`.
    pub cpu_seconds: u64,
    /// The worker's open-file limit (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Stack of the extraction thread, in bytes (deeply nested PDFs recurse deeply). Capped at a
    /// quarter of `memory` so that it always fits under the address-space limit.
    pub stack: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input: 100 << 20,
            max_pages: 2000,
            max_chars: 5_000_000,
            max_inflated: 64 << 20,
            max_zip_entries: 10_000,
            memory: 1 << 30,
            cpu_seconds: 30,
            open_files: 16,
            stack: 256 << 20,
        }
    }
}

/// A worker flag was unknown or malformed (a bug in the caller, not a property of the document).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad worker argument {0:?}")]
pub struct BadArgument(
    /// The offending argument, or what is missing.
    pub String,
);

impl Limits {
    /// The flag names, in [`Limits::to_args`] order.
    const NAMES: [&'static str; 9] = [
        "max-input",
        "max-pages",
        "max-chars",
        "max-inflated",
        "max-zip-entries",
        "memory",
        "cpu-seconds",
        "open-files",
        "stack",
    ];

    fn slot(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "max-input" => &mut self.max_input,
            "max-pages" => &mut self.max_pages,
            "max-chars" => &mut self.max_chars,
            "max-inflated" => &mut self.max_inflated,
            "max-zip-entries" => &mut self.max_zip_entries,
            "memory" => &mut self.memory,
            "cpu-seconds" => &mut self.cpu_seconds,
            "open-files" => &mut self.open_files,
            "stack" => &mut self.stack,
            _ => return None,
        })
    }

    /// The limits as worker flags: `--max-input=104857600`, ...
    #[must_use]
    pub fn to_args(&self) -> Vec<String> {
        let mut copy = *self;
        Self::NAMES
            .iter()
            .map(|name| {
                let value = copy.slot(name).map_or(0, |v| *v);
                format!("--{name}={value}")
            })
            .collect()
    }

    /// Applies one flag (`name` without the leading `--`). `Ok(false)` when the name is not a limit.
    ///
    /// # Errors
    /// The value is not a non-negative integer.
    pub fn parse_flag(&mut self, name: &str, value: &str) -> Result<bool, BadArgument> {
        let Some(slot) = self.slot(name) else {
            return Ok(false);
        };
        *slot = value
            .parse()
            .map_err(|_| BadArgument(format!("--{name}")))?;
        Ok(true)
    }

    /// The extraction thread's stack size: [`Limits::stack`], at most a quarter of
    /// [`Limits::memory`], at least 1 MiB.
    #[must_use]
    pub fn effective_stack(&self) -> usize {
        let bytes = self.stack.min(self.memory / 4).max(1 << 20);
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }

    /// Bytes of worker output the parent accepts: the JSON of `max_chars` characters (at most 6
    /// bytes each, a `\u00XX` escape), page offsets and some slack.
    #[must_use]
    pub fn max_output(&self) -> u64 {
        self.max_chars
            .saturating_mul(6)
            .saturating_add(self.max_pages.saturating_mul(21))
            .saturating_add(64 << 10)
    }
}

/// Counts characters against [`Limits::max_chars`].
#[derive(Clone, Copy)]
pub(crate) struct CharBudget {
    used: u64,
    max: u64,
}

/// The output passed [`Limits::max_chars`].
#[derive(Debug)]
pub(crate) struct OverBudget;

impl CharBudget {
    pub(crate) fn new(max: u64) -> Self {
        Self { used: 0, max }
    }

    /// Characters counted so far (the offset of the next one).
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// Counts `n` more characters.
    pub(crate) fn spend(&mut self, n: u64) -> Result<(), OverBudget> {
        self.used = self.used.saturating_add(n);
        if self.used > self.max {
            Err(OverBudget)
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for CharBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} chars", self.used, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        let limits = Limits {
            max_pages: 7,
            memory: 512 << 20,
            ..Limits::default()
        };
        let mut back = Limits {
            max_input: 1,
            max_pages: 1,
            max_chars: 1,
            max_inflated: 1,
            max_zip_entries: 1,
            memory: 1,
            cpu_seconds: 1,
            open_files: 1,
            stack: 1,
        };
        for arg in limits.to_args() {
            let (name, value) = arg.strip_prefix("--").unwrap().split_once('=').unwrap();
            assert!(back.parse_flag(name, value).unwrap());
        }
        assert_eq!(back, limits);
        assert!(!back.parse_flag("kind", "pdf").unwrap());
        assert!(back.parse_flag("max-pages", "-1").is_err());
    }

    #[test]
    fn the_stack_fits_under_the_memory_cap() {
        assert_eq!(Limits::default().effective_stack(), 256 << 20);
        let small = Limits {
            memory: 256 << 20,
            ..Limits::default()
        };
        assert_eq!(small.effective_stack(), 64 << 20);
    }

    #[test]
    fn the_budget_stops_past_the_maximum() {
        let mut b = CharBudget::new(10);
        assert!(b.spend(10).is_ok());
        assert_eq!(b.used(), 10);
        assert!(b.spend(1).is_err());
    }
}
