//! Sealed files: contract bytes at rest, encrypted with AES-256-GCM in the STREAM construction
//! (`aead-stream`'s `StreamBE32`: 7-byte nonce prefix || 32-bit big-endian segment counter || 1-byte
//! last-segment flag), so segments cannot be reordered, dropped, truncated or appended without detection.
//!
//! Every file has its own key, derived from the org's [`DataKey`] and a random 32-byte salt stored in the
//! file's header: HKDF-SHA256(ikm = data key, salt, info = `clment/sealed/v1/file-key`), 32 bytes (see
//! [`DataKey::file_cipher`]). The data key itself never encrypts a segment. With one long-lived key per org
//! and only a random 7-byte nonce prefix per file, two files would share a prefix (and so every nonce) with
//! probability above 2^-32 after a few thousand files, and a repeated nonce under AES-GCM gives away
//! plaintext XORs and lets an attacker forge segments; a per-file key makes each (key, nonce) pair unique
//! unless two 256-bit salts collide. The nonce prefix stays random all the same.
//!
//! File layout (version 1):
//!
//! ```text
//! offset  size  field
//! 0       4     magic "CLMB"
//! 4       1     version = 1
//! 5       4     plaintext segment size, big-endian = 65536
//! 9       32    salt of the file key (random per file, from the OS generator)
//! 41      7     STREAM nonce prefix (random per file)
//! 48      ...   segments: AES-256-GCM(segment) || 16-byte tag
//! ```
//!
//! Every segment but the last holds exactly 65536 plaintext bytes; the last one (encrypted with the
//! last-segment flag) holds 0..=65535, so a file always ends with a short, possibly empty, last segment and
//! its plaintext length follows from its size alone. Every segment's AAD is the whole 48-byte header
//! followed by a caller-given context (e.g. org and contract): the header is authenticated (a changed byte
//! anywhere in it fails the first segment), and a file moved to another org or contract does not decrypt.
//! A reader also accepts only the exact magic, version and segment size before decrypting anything.
//!
//! Writes go to a temp file (`.seal-<uuid>`, 0600) that is fsynced and then hard-linked into place, which
//! fails if the target exists (never clobbers), and the target's directory is fsynced. Encryption and file
//! I/O run on the blocking pool, a batch of segments per hop, overlapped with the caller's next chunks.
//! Every [`FLUSH_EVERY`] bytes written, a `fdatasync` of what is written so far starts on the blocking pool
//! beside the writes, so that the commit's fsync finds little left to write back (the disk works while the
//! upload is still arriving).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::future::Future as _;
use std::io::{self, Read as _, Write as _};
use std::mem;
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use aead_stream::aead::{self, Buffer};
use aead_stream::{NewStream as _, StreamBE32, StreamPrimitive as _};
use aes_gcm::Aes256Gcm;
use bytes::Bytes;
use futures_util::Stream;
use rand::RngCore as _;
use rand::rngs::OsRng;
use tokio::task::JoinHandle;
use zeroize::Zeroize as _;

use crate::crypto::{DataKey, FILE_SALT_LEN};

const MAGIC: &[u8; 4] = b"CLMB";
const VERSION: u8 = 1;
/// Plaintext bytes per segment.
const SEGMENT_LEN: usize = 64 * 1024;
const TAG_LEN: usize = 16;
const SALT_LEN: usize = FILE_SALT_LEN;
const NONCE_PREFIX_LEN: usize = 7;
/// Offset of the salt in the header.
const SALT_AT: usize = 4 + 1 + 4;
/// Offset of the nonce prefix in the header.
const NONCE_AT: usize = SALT_AT + SALT_LEN;
const HEADER_LEN: usize = NONCE_AT + NONCE_PREFIX_LEN;
const _: () = assert!(SALT_LEN == 32 && HEADER_LEN == 48);
/// A full segment on disk.
const SEALED_SEGMENT_LEN: usize = SEGMENT_LEN + TAG_LEN;
/// Full segments the writer hands to the blocking pool at once (1 MiB of plaintext).
const WRITE_BATCH: usize = 16;
/// Bytes written between two early write-backs.
const FLUSH_EVERY: usize = 8 * 1024 * 1024;
/// Full segments the reader reads and decrypts per blocking-pool hop.
const READ_BATCH: usize = 16;
/// The reader starts decrypting the next batch once this few decrypted segments are left.
const PREFETCH_AT: usize = READ_BATCH / 2;

type Salt = [u8; SALT_LEN];
type NoncePrefix = [u8; NONCE_PREFIX_LEN];

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("sealed file rejected: {what}"),
    )
}

fn auth_failed() -> io::Error {
    invalid("authentication failed (tampered, truncated, reordered, or wrong key or context)")
}

fn join_err(e: tokio::task::JoinError) -> io::Error {
    io::Error::other(format!("sealed file worker failed: {e}"))
}

/// A file's header, as on disk (see the module docs).
#[derive(Clone, Copy)]
struct Header([u8; HEADER_LEN]);

impl Header {
    fn new(salt: &Salt, nonce: &NoncePrefix) -> Self {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(MAGIC);
        h[4] = VERSION;
        h[5..SALT_AT].copy_from_slice(&u32::try_from(SEGMENT_LEN).expect("fits").to_be_bytes());
        h[SALT_AT..NONCE_AT].copy_from_slice(salt);
        h[NONCE_AT..].copy_from_slice(nonce);
        Self(h)
    }

    /// Accepts only the exact magic, version and segment size this code writes.
    fn parse(h: [u8; HEADER_LEN]) -> io::Result<Self> {
        if &h[..4] != MAGIC {
            return Err(invalid("not a sealed file (bad magic)"));
        }
        if h[4] != VERSION {
            return Err(invalid("unsupported version"));
        }
        if h[5..SALT_AT] != u32::try_from(SEGMENT_LEN).expect("fits").to_be_bytes() {
            return Err(invalid("unsupported segment size"));
        }
        Ok(Self(h))
    }

    fn salt(&self) -> &Salt {
        self.0[SALT_AT..NONCE_AT].try_into().expect("32 bytes")
    }

    fn nonce(&self) -> &NoncePrefix {
        self.0[NONCE_AT..].try_into().expect("7 bytes")
    }

    /// The STREAM primitive for this file: AES-256-GCM under the file key derived from `key` and the salt,
    /// with the nonce prefix. Its key schedule is zeroized when dropped.
    fn stream(&self, key: &DataKey) -> StreamBE32<Aes256Gcm> {
        StreamBE32::from_aead(key.file_cipher(self.salt()), &(*self.nonce()).into())
    }

    /// Every segment's AAD: the whole header, then the caller's context.
    fn segment_aad(&self, context: &[u8]) -> Vec<u8> {
        [&self.0[..], context].concat()
    }
}

/// The segment structure implied by a file's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Full segments before the last one.
    full_segments: u64,
    /// Size on disk of the last segment (tag included): 16..=65551.
    last_sealed_len: usize,
}

impl Layout {
    fn of_file(file_len: u64) -> io::Result<Self> {
        let body = file_len
            .checked_sub(HEADER_LEN as u64)
            .ok_or_else(|| invalid("truncated header"))?;
        let full_segments = body / SEALED_SEGMENT_LEN as u64;
        let last_sealed_len =
            usize::try_from(body % SEALED_SEGMENT_LEN as u64).expect("below the segment size");
        if last_sealed_len < TAG_LEN {
            // Cut at (or just past) a segment boundary: the last segment is missing.
            return Err(invalid("truncated"));
        }
        if full_segments > u64::from(u32::MAX) {
            return Err(invalid("too many segments"));
        }
        Ok(Self {
            full_segments,
            last_sealed_len,
        })
    }

    fn plaintext_len(self) -> u64 {
        self.full_segments * SEGMENT_LEN as u64 + (self.last_sealed_len - TAG_LEN) as u64
    }
}

/// An [`aead::Buffer`] over a fixed region: the first `len` bytes are the message, the rest is room for
/// the tag. Lets segments be sealed and opened in place inside one batch buffer laid out as on disk.
struct SegmentBuf<'a> {
    region: &'a mut [u8],
    len: usize,
}

impl<'a> SegmentBuf<'a> {
    fn new(region: &'a mut [u8], len: usize) -> Self {
        debug_assert!(len <= region.len());
        Self { region, len }
    }
}

impl AsRef<[u8]> for SegmentBuf<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.region[..self.len]
    }
}

impl AsMut<[u8]> for SegmentBuf<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.region[..self.len]
    }
}

impl Buffer for SegmentBuf<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aead::Result<()> {
        let end = self.len.checked_add(other.len()).ok_or(aead::Error)?;
        self.region
            .get_mut(self.len..end)
            .ok_or(aead::Error)?
            .copy_from_slice(other);
        self.len = end;
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// The writer's file and STREAM state. Boxed, and the STREAM primitive is driven directly (the same
/// construction and bytes as `EncryptorBE32`, whose `encrypt_last` consumes it by value), so the file
/// key's schedule stays at one heap address and is zeroized there when the engine drops.
struct SealEngine {
    file: File,
    stream: StreamBE32<Aes256Gcm>,
    /// The next segment's counter.
    position: u32,
    /// Header || caller's context.
    aad: Vec<u8>,
    /// Bytes written since the last early write-back started.
    unflushed: usize,
}

impl SealEngine {
    /// Seals, in place, a run of full segments laid out as on disk (each followed by tag room).
    fn seal_full(&mut self, batch: &mut [u8]) -> io::Result<()> {
        debug_assert_eq!(batch.len() % SEALED_SEGMENT_LEN, 0);
        for region in batch.chunks_exact_mut(SEALED_SEGMENT_LEN) {
            // As `EncryptorBE32`: the maximum counter is kept for a last segment.
            if self.position == u32::MAX {
                return Err(io::Error::other(
                    "sealed file too large (segment counter exhausted)",
                ));
            }
            self.stream
                .encrypt_in_place(
                    self.position,
                    false,
                    &self.aad,
                    &mut SegmentBuf::new(region, SEGMENT_LEN),
                )
                .map_err(|_| io::Error::other("sealing a segment failed"))?;
            self.position += 1;
        }
        Ok(())
    }

    /// Seals the last segment: `len` plaintext bytes at the start of `region`, then tag room.
    fn seal_last(&mut self, region: &mut [u8], len: usize) -> io::Result<()> {
        self.stream
            .encrypt_in_place(
                self.position,
                true,
                &self.aad,
                &mut SegmentBuf::new(region, len),
            )
            .map_err(|_| io::Error::other("sealing the last segment failed"))
    }
}

type SealJob = JoinHandle<io::Result<(Box<SealEngine>, Vec<u8>)>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriterState {
    Open,
    /// An operation failed or was cancelled midway: only `abort` (or drop) is left.
    Broken,
    /// Committed or aborted: the temp file is gone.
    Finished,
}

/// Streams plaintext into a sealed temp file, then [`commit`](Self::commit)s it into place atomically.
///
/// Dropping it without `commit` or `abort` removes the temp file. The file key's schedule (derived from
/// the data key and a fresh salt) lives only in this writer (and in its in-flight batch job) and is
/// zeroized when dropped, as is buffered plaintext.
/// If a `write` or `commit` future is cancelled or fails, the writer can only be aborted or dropped.
pub struct SealedWriter {
    tmp_path: PathBuf,
    /// Present while no batch is in flight.
    engine: Option<Box<SealEngine>>,
    in_flight: Option<SealJob>,
    /// Plaintext not yet handed off, laid out as on disk: full segments each followed by 16 bytes of tag
    /// room, then the current partial segment.
    buf: Vec<u8>,
    /// A returned batch buffer, for reuse.
    spare: Vec<u8>,
    /// The early write-back in progress, if any.
    flushing: Option<JoinHandle<io::Result<()>>>,
    /// Full segments in `buf`.
    full_in_buf: usize,
    /// Bytes of the current partial segment.
    segment_fill: usize,
    plaintext_len: u64,
    state: WriterState,
}

impl std::fmt::Debug for SealedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedWriter")
            .field("tmp_path", &self.tmp_path)
            .field("plaintext_len", &self.plaintext_len)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl SealedWriter {
    /// Starts a sealed file: a temp file `.seal-<uuid>` (mode 0600) in `tmp_dir`, which must be on the
    /// same file system as the final path. `aad` is bound to every segment (after the header) and must be
    /// given again to [`open_sealed`]. The file's key is derived from `key` and a fresh random salt.
    ///
    /// # Errors
    /// When the temp file cannot be created or its header written.
    pub async fn create(tmp_dir: &Path, key: &DataKey, aad: Vec<u8>) -> io::Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; NONCE_PREFIX_LEN];
        OsRng.fill_bytes(&mut nonce);
        Self::create_with(tmp_dir, key, aad, Header::new(&salt, &nonce)).await
    }

    async fn create_with(
        tmp_dir: &Path,
        key: &DataKey,
        aad: Vec<u8>,
        header: Header,
    ) -> io::Result<Self> {
        let tmp_path = tmp_dir.join(format!(".seal-{}", uuid::Uuid::new_v4().simple()));
        // Built before the file exists, so that a cancelled `create` still removes it (Drop).
        let mut writer = Self {
            tmp_path: tmp_path.clone(),
            engine: None,
            in_flight: None,
            buf: Vec::new(),
            spare: Vec::new(),
            flushing: None,
            full_in_buf: 0,
            segment_fill: 0,
            plaintext_len: 0,
            state: WriterState::Broken,
        };
        let file = tokio::task::spawn_blocking(move || {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp_path)?;
            file.write_all(&header.0)?;
            Ok::<_, io::Error>(file)
        })
        .await
        .map_err(join_err)??;
        writer.engine = Some(Box::new(SealEngine {
            file,
            stream: header.stream(key),
            position: 0,
            aad: header.segment_aad(&aad),
            unflushed: 0,
        }));
        writer.state = WriterState::Open;
        Ok(writer)
    }

    /// Plaintext bytes accepted so far.
    #[must_use]
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Appends plaintext. Full segments are sealed and written in batches on the blocking pool while the
    /// caller goes on; how the input is chunked does not change the output.
    ///
    /// # Errors
    /// When an earlier batch failed to be written, or after an earlier error or cancellation.
    pub async fn write(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        self.ensure_open()?;
        // Restored at the end: a failed or cancelled write leaves an unknown prefix of `chunk` behind.
        self.state = WriterState::Broken;
        while !chunk.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf = mem::take(&mut self.spare);
                self.buf.reserve_exact(WRITE_BATCH * SEALED_SEGMENT_LEN);
            }
            let n = (SEGMENT_LEN - self.segment_fill).min(chunk.len());
            self.buf.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            self.segment_fill += n;
            self.plaintext_len += n as u64;
            if self.segment_fill == SEGMENT_LEN {
                self.buf.resize(self.buf.len() + TAG_LEN, 0);
                self.segment_fill = 0;
                self.full_in_buf += 1;
                if self.full_in_buf == WRITE_BATCH {
                    self.dispatch().await?;
                }
            }
        }
        self.state = WriterState::Open;
        Ok(())
    }

    /// Hands the buffered full segments to the blocking pool (after the previous batch is done).
    async fn dispatch(&mut self) -> io::Result<()> {
        let mut engine = self.reclaim().await?;
        let mut batch = mem::take(&mut self.buf);
        self.full_in_buf = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            engine.seal_full(&mut batch)?;
            engine.file.write_all(&batch)?;
            engine.unflushed += batch.len();
            batch.clear();
            Ok((engine, batch))
        }));
        Ok(())
    }

    /// Waits for the in-flight batch (cancel-safe: the job stays in `self` until it completes) and takes
    /// the engine back.
    async fn reclaim(&mut self) -> io::Result<Box<SealEngine>> {
        if let Some(job) = self.in_flight.as_mut() {
            let done = job.await;
            self.in_flight = None;
            let (mut engine, spare) = done.map_err(join_err)??;
            if engine.unflushed >= FLUSH_EVERY {
                self.start_flush(&mut engine).await?;
            }
            self.engine = Some(engine);
            self.spare = spare;
        }
        self.engine
            .take()
            .ok_or_else(|| io::Error::other("sealed writer is unusable after an earlier error"))
    }

    /// Starts writing back what is written so far (after the previous write-back, whose error counts).
    async fn start_flush(&mut self, engine: &mut SealEngine) -> io::Result<()> {
        if let Some(previous) = self.flushing.take() {
            if !previous.is_finished() {
                self.flushing = Some(previous);
                return Ok(());
            }
            previous.await.map_err(join_err)??;
        }
        let file = engine.file.try_clone()?;
        engine.unflushed = 0;
        self.flushing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        Ok(())
    }

    fn ensure_open(&self) -> io::Result<()> {
        match self.state {
            WriterState::Open => Ok(()),
            WriterState::Broken => Err(io::Error::other(
                "sealed writer is unusable after an earlier error or cancellation",
            )),
            WriterState::Finished => Err(io::Error::other("sealed writer already finished")),
        }
    }

    /// Seals the last segment, fsyncs the temp file and links it to `final_path` (same file system as
    /// the temp directory), which must not exist, then removes the temp name and fsyncs `final_path`'s
    /// directory. Returns the plaintext length. On error nothing is left at `final_path` by this call and
    /// the temp file is removed.
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`] when `final_path` exists (it is left untouched); any I/O error.
    pub async fn commit(mut self, final_path: &Path) -> io::Result<u64> {
        let result = self.commit_inner(final_path).await;
        if result.is_err() {
            remove_if_exists(self.tmp_path.clone()).await;
        }
        self.state = WriterState::Finished;
        result
    }

    async fn commit_inner(&mut self, final_path: &Path) -> io::Result<u64> {
        self.ensure_open()?;
        self.state = WriterState::Broken;
        let engine = self.reclaim().await?;
        if let Some(flush) = self.flushing.as_mut() {
            let done = flush.await;
            self.flushing = None;
            done.map_err(join_err)??;
        }
        let mut batch = mem::take(&mut self.buf);
        batch.resize(batch.len() + TAG_LEN, 0);
        let full = self.full_in_buf;
        let last = self.segment_fill;
        let tmp = self.tmp_path.clone();
        let target = final_path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut engine = engine;
            let (full_part, last_part) = batch.split_at_mut(full * SEALED_SEGMENT_LEN);
            engine.seal_full(full_part)?;
            engine.seal_last(last_part, last)?;
            engine.file.write_all(&batch)?;
            engine.file.sync_all()?;
            // Closes the file and zeroizes the key schedule before the file is published.
            drop(engine);
            publish(&tmp, &target)
        })
        .await
        .map_err(join_err)??;
        Ok(self.plaintext_len)
    }

    /// Removes the temp file; nothing is published.
    pub async fn abort(mut self) {
        // An in-flight batch finishes on its own and drops its engine (and file) when done.
        self.in_flight = None;
        self.engine = None;
        self.buf.zeroize();
        remove_if_exists(self.tmp_path.clone()).await;
        self.state = WriterState::Finished;
    }
}

impl Drop for SealedWriter {
    fn drop(&mut self) {
        self.buf.zeroize();
        if self.state != WriterState::Finished {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// Links `tmp` to `target` (failing if it exists), drops the temp name, fsyncs the target's directory.
fn publish(tmp: &Path, target: &Path) -> io::Result<()> {
    let linked = std::fs::hard_link(tmp, target);
    // The data is safe under `target` (or the commit failed): the temp name goes either way.
    let _ = std::fs::remove_file(tmp);
    linked?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        // Not durable: report failure, and leave nothing behind that the caller does not know about.
        let _ = std::fs::remove_file(target);
        return Err(e);
    }
    Ok(())
}

async fn remove_if_exists(path: PathBuf) {
    let _ = tokio::fs::remove_file(path).await;
}

/// The reader's file and STREAM state (boxed and driven directly, as [`SealEngine`], and the same
/// construction as `DecryptorBE32`).
struct OpenEngine {
    file: File,
    stream: StreamBE32<Aes256Gcm>,
    /// The next segment's counter.
    position: u32,
    /// Set once the last segment was opened, or after an error.
    finished: bool,
    /// Header || caller's context.
    aad: Vec<u8>,
    /// Full segments not read yet.
    full_left: u64,
    last_sealed_len: usize,
}

struct Batch {
    engine: Box<OpenEngine>,
    segments: Vec<Bytes>,
    error: Option<io::Error>,
}

impl OpenEngine {
    /// Reads and opens up to [`READ_BATCH`] full segments, plus the last one when it is next. Returns the
    /// authenticated plaintext segments in order, then the first error if any (which ends the stream).
    fn next_batch(&mut self) -> (Vec<Bytes>, Option<io::Error>) {
        let mut out = Vec::new();
        let result = self.read_batch(&mut out);
        if result.is_err() {
            self.finished = true;
        }
        (out, result.err())
    }

    fn read_batch(&mut self, out: &mut Vec<Bytes>) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        let full = usize::try_from(self.full_left.min(READ_BATCH as u64)).expect("small");
        let with_last = self.full_left == full as u64;
        let len = full * SEALED_SEGMENT_LEN + if with_last { self.last_sealed_len } else { 0 };
        let mut buf = vec![0u8; len];
        self.file.read_exact(&mut buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                invalid("truncated")
            } else {
                e
            }
        })?;
        if with_last && self.file.read(&mut [0u8; 1])? != 0 {
            return Err(invalid("data after the last segment"));
        }
        let mut plain: Vec<Range<usize>> = Vec::with_capacity(full + 1);
        let mut result = Ok(());
        for (i, region) in buf
            .chunks_exact_mut(SEALED_SEGMENT_LEN)
            .take(full)
            .enumerate()
        {
            // `Layout` caps the full segments at u32::MAX, so the counter never wraps.
            let opened = self.stream.decrypt_in_place(
                self.position,
                false,
                &self.aad,
                &mut SegmentBuf::new(region, SEALED_SEGMENT_LEN),
            );
            if opened.is_err() {
                result = Err(auth_failed());
                break;
            }
            self.position = self.position.wrapping_add(1);
            self.full_left -= 1;
            let start = i * SEALED_SEGMENT_LEN;
            plain.push(start..start + SEGMENT_LEN);
        }
        if result.is_ok() && with_last {
            self.finished = true;
            let start = full * SEALED_SEGMENT_LEN;
            let mut last = SegmentBuf::new(&mut buf[start..], self.last_sealed_len);
            match self
                .stream
                .decrypt_in_place(self.position, true, &self.aad, &mut last)
            {
                Ok(()) if last.len > 0 => plain.push(start..start + last.len),
                Ok(()) => {}
                Err(_) => result = Err(auth_failed()),
            }
        }
        let shared = Bytes::from(buf);
        out.extend(plain.into_iter().map(|r| shared.slice(r)));
        result
    }
}

enum ReadState {
    /// Waiting to be asked for more.
    Idle(Box<OpenEngine>),
    /// A batch is being read and decrypted on the blocking pool.
    Busy(JoinHandle<Batch>),
    /// The next item is this error; then the end.
    Failed(io::Error),
    Done,
}

/// The decrypted segments of a sealed file, in order. Data is only ever yielded after it was
/// authenticated; any tampering, truncation, extension, wrong key or wrong context ends the stream with
/// one [`io::ErrorKind::InvalidData`] error (possibly after earlier, authentic segments, as with any
/// streaming decryption: consumers must treat the error as a failed read of the whole file).
pub struct SealedReader {
    ready: VecDeque<Bytes>,
    state: ReadState,
}

impl std::fmt::Debug for SealedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedReader")
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

fn spawn_batch(mut engine: Box<OpenEngine>) -> ReadState {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => ReadState::Busy(rt.spawn_blocking(move || {
            let (segments, error) = engine.next_batch();
            Batch {
                engine,
                segments,
                error,
            }
        })),
        Err(e) => ReadState::Failed(io::Error::other(e)),
    }
}

impl SealedReader {
    /// Starts decrypting the next batch in the background when few decrypted segments are left.
    fn prefetch(&mut self) {
        if self.ready.len() <= PREFETCH_AT && matches!(self.state, ReadState::Idle(_)) {
            let ReadState::Idle(engine) = mem::replace(&mut self.state, ReadState::Done) else {
                unreachable!()
            };
            self.state = spawn_batch(engine);
        }
    }
}

impl Stream for SealedReader {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(segment) = this.ready.pop_front() {
                this.prefetch();
                return Poll::Ready(Some(Ok(segment)));
            }
            match mem::replace(&mut this.state, ReadState::Done) {
                ReadState::Done => return Poll::Ready(None),
                ReadState::Failed(e) => return Poll::Ready(Some(Err(e))),
                ReadState::Idle(engine) => this.state = spawn_batch(engine),
                ReadState::Busy(mut job) => match Pin::new(&mut job).poll(cx) {
                    Poll::Pending => {
                        this.state = ReadState::Busy(job);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => this.state = ReadState::Failed(join_err(e)),
                    Poll::Ready(Ok(batch)) => {
                        this.ready.extend(batch.segments);
                        this.state = match batch.error {
                            Some(e) => ReadState::Failed(e),
                            None if batch.engine.finished => ReadState::Done,
                            None => ReadState::Idle(batch.engine),
                        };
                    }
                },
            }
        }
    }
}

/// Opens a sealed file written with the same `key` and `aad`. The header, the size and the first batch
/// of segments (up to 1 MiB) are checked before this returns, so a wrong key or context, a foreign or
/// truncated file fails here rather than mid-stream.
///
/// # Errors
/// [`io::ErrorKind::InvalidData`] when the file is not an authentic sealed file for this key and context;
/// the file system's error when it cannot be opened (e.g. [`io::ErrorKind::NotFound`]).
pub async fn open_sealed(path: &Path, key: &DataKey, aad: Vec<u8>) -> io::Result<SealedReader> {
    let path = path.to_owned();
    let (file, layout, header) = tokio::task::spawn_blocking(move || open_checked(&path))
        .await
        .map_err(join_err)??;
    let mut engine = Box::new(OpenEngine {
        file,
        stream: header.stream(key),
        position: 0,
        finished: false,
        aad: header.segment_aad(&aad),
        full_left: layout.full_segments,
        last_sealed_len: layout.last_sealed_len,
    });
    let (engine, segments) = tokio::task::spawn_blocking(move || match engine.next_batch() {
        (_, Some(e)) => Err(e),
        (segments, None) => Ok((engine, segments)),
    })
    .await
    .map_err(join_err)??;
    let state = if engine.finished {
        ReadState::Done
    } else {
        ReadState::Idle(engine)
    };
    Ok(SealedReader {
        ready: segments.into(),
        state,
    })
}

/// Opens `path`, checks its header and size; returns it positioned after the header.
fn open_checked(path: &Path) -> io::Result<(File, Layout, Header)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(invalid("not a regular file"));
    }
    let mut h = [0u8; HEADER_LEN];
    file.read_exact(&mut h).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            invalid("truncated header")
        } else {
            e
        }
    })?;
    let header = Header::parse(h)?;
    Ok((file, Layout::of_file(meta.len())?, header))
}

/// The plaintext length of a sealed file, from its header and size (nothing is decrypted, so this does
/// not prove the file authentic).
///
/// # Errors
/// [`io::ErrorKind::InvalidData`] when the header or size is impossible for a sealed file; the file
/// system's error when it cannot be opened.
pub async fn plaintext_len(path: &Path) -> io::Result<u64> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || Ok(open_checked(&path)?.1.plaintext_len()))
        .await
        .map_err(join_err)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;
    use proptest::prelude::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Instant;

    const AAD: &[u8] = b"clment/contract/v1/org-1/contract-1";

    fn random(n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        rand::thread_rng().fill_bytes(&mut v);
        v
    }

    struct Fixture {
        root: tempfile::TempDir,
        /// The bytes of `key`, for the independent reference encoder.
        raw_key: [u8; 32],
        key: DataKey,
    }

    impl Fixture {
        fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir(root.path().join(".tmp")).unwrap();
            std::fs::create_dir(root.path().join("blobs")).unwrap();
            let raw_key: [u8; 32] = random(32).try_into().unwrap();
            Self {
                root,
                raw_key,
                key: DataKey::from_test_bytes(&raw_key),
            }
        }

        fn tmp_dir(&self) -> PathBuf {
            self.root.path().join(".tmp")
        }

        fn target(&self, name: &str) -> PathBuf {
            self.root.path().join("blobs").join(name)
        }

        fn temp_files(&self) -> Vec<String> {
            std::fs::read_dir(self.tmp_dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        }

        /// Seals `data`, written in chunks of the given sizes (cycled; 0 = an empty write).
        async fn seal(&self, name: &str, data: &[u8], chunks: &[usize]) -> PathBuf {
            let w = SealedWriter::create(&self.tmp_dir(), &self.key, AAD.to_vec())
                .await
                .unwrap();
            self.seal_with(w, name, data, chunks).await
        }

        async fn seal_with(
            &self,
            mut w: SealedWriter,
            name: &str,
            data: &[u8],
            chunks: &[usize],
        ) -> PathBuf {
            let mut rest = data;
            let mut sizes = chunks.iter().copied().cycle();
            while !rest.is_empty() {
                let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
                w.write(&rest[..n]).await.unwrap();
                rest = &rest[n..];
            }
            assert_eq!(w.plaintext_len(), data.len() as u64);
            let path = self.target(name);
            assert_eq!(w.commit(&path).await.unwrap(), data.len() as u64);
            assert!(self.temp_files().is_empty(), "{:?}", self.temp_files());
            path
        }
    }

    /// Everything the reader yields, or its error (checking that nothing follows an error).
    async fn read_all(path: &Path, key: &DataKey, aad: &[u8]) -> io::Result<Vec<u8>> {
        let mut reader = open_sealed(path, key, aad.to_vec()).await?;
        let mut out = Vec::new();
        while let Some(item) = reader.next().await {
            match item {
                Ok(segment) => {
                    assert!(!segment.is_empty() && segment.len() <= SEGMENT_LEN);
                    out.extend_from_slice(&segment);
                }
                Err(e) => {
                    assert!(reader.next().await.is_none(), "data after an error");
                    assert!(reader.next().await.is_none());
                    return Err(e);
                }
            }
        }
        assert!(reader.next().await.is_none());
        Ok(out)
    }

    /// Like [`read_all`], also returning what was yielded before an error.
    async fn read_until_error(path: &Path, key: &DataKey) -> (Vec<u8>, Option<io::Error>) {
        let mut reader = match open_sealed(path, key, AAD.to_vec()).await {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut out = Vec::new();
        while let Some(item) = reader.next().await {
            match item {
                Ok(segment) => out.extend_from_slice(&segment),
                Err(e) => {
                    assert!(reader.next().await.is_none(), "data after an error");
                    return (out, Some(e));
                }
            }
        }
        (out, None)
    }

    #[track_caller]
    fn assert_invalid(result: &io::Result<Vec<u8>>, what: &str) {
        match result {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{what}: {e}"),
            Ok(data) => panic!("{what}: accepted ({} bytes)", data.len()),
        }
    }

    fn expected_file_len(plaintext: usize) -> u64 {
        (HEADER_LEN + plaintext + TAG_LEN * (plaintext / SEGMENT_LEN + 1)) as u64
    }

    /// The documented per-file key, derived independently with the `hkdf` crate from the raw data key.
    fn reference_file_cipher(raw_key: &[u8; 32], salt: &Salt) -> Aes256Gcm {
        use aes_gcm::KeyInit as _;
        let mut okm = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), raw_key)
            .expand(b"clment/sealed/v1/file-key", &mut okm)
            .unwrap();
        Aes256Gcm::new_from_slice(&okm).unwrap()
    }

    /// An independent encoder of the documented format, on `aead-stream`'s `EncryptorBE32`.
    fn reference_seal(raw_key: &[u8; 32], salt: Salt, nonce: NoncePrefix, data: &[u8]) -> Vec<u8> {
        use aead_stream::EncryptorBE32;
        use aead_stream::aead::Payload;
        let mut out = b"CLMB\x01\x00\x01\x00\x00".to_vec();
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);
        assert_eq!(out.len(), 48);
        // The AAD of every segment: the whole header, then the context.
        let aad = [&out[..], AAD].concat();
        let cipher = reference_file_cipher(raw_key, &salt);
        let mut enc = EncryptorBE32::<Aes256Gcm>::from_aead(cipher, &nonce.into());
        let full = data.len() / SEGMENT_LEN * SEGMENT_LEN;
        for segment in data[..full].chunks(SEGMENT_LEN) {
            let sealed = enc.encrypt_next(Payload {
                msg: segment,
                aad: &aad,
            });
            out.extend_from_slice(&sealed.unwrap());
        }
        let last = enc.encrypt_last(Payload {
            msg: &data[full..],
            aad: &aad,
        });
        out.extend_from_slice(&last.unwrap());
        out
    }

    const SIZES: [usize; 8] = [
        0,
        1,
        65_535,
        65_536,
        65_537,
        3 * 65_536,
        (1 << 20) + 7,
        (5 << 20) + 3,
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trips_every_size_and_chunking() {
        let f = Fixture::new();
        let chunkings: [&[usize]; 5] = [
            &[],
            &[1000],
            &[65_536],
            &[7, 0, 65_529, 100_000],
            &[1 << 21],
        ];
        for (i, size) in SIZES.into_iter().enumerate() {
            let data = random(size);
            let chunks = chunkings[i % chunkings.len()];
            let path = f.seal(&format!("{size}.clmb"), &data, chunks).await;
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                expected_file_len(size),
                "{size}"
            );
            assert_eq!(plaintext_len(&path).await.unwrap(), size as u64);
            let back = read_all(&path, &f.key, AAD).await.unwrap();
            assert!(back == data, "size {size}: round trip differs");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_files_are_written_back_early_and_still_round_trip() {
        let f = Fixture::new();
        let size = 3 * FLUSH_EVERY + 12_345;
        let data = random(size);
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        let mut started = 0;
        for part in data.chunks(100_003) {
            w.write(part).await.unwrap();
            if w.flushing.is_some() {
                started += 1;
            }
        }
        assert!(started > 0, "an early write-back started");
        let path = f.target("large.clmb");
        assert_eq!(w.commit(&path).await.unwrap(), size as u64);
        assert!(f.temp_files().is_empty());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            expected_file_len(size)
        );
        assert!(read_all(&path, &f.key, AAD).await.unwrap() == data);
        // Aborting while a write-back may be running leaves nothing behind.
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        w.write(&data).await.unwrap();
        w.abort().await;
        assert!(f.temp_files().is_empty());
    }

    #[tokio::test]
    async fn output_is_the_documented_format_however_the_input_is_chunked() {
        let f = Fixture::new();
        let salt: Salt = std::array::from_fn(|i| 0x40 + i as u8);
        let nonce = *b"\x01\x02\x03\x04\x05\x06\x07";
        let header = Header::new(&salt, &nonce);
        let chunkings: [&[usize]; 4] = [&[], &[1], &[65_536], &[3, 70_000, 0, 65_535]];
        for size in [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, (1 << 20) + 7] {
            let data = random(size);
            let expected = reference_seal(&f.raw_key, salt, nonce, &data);
            for (i, chunks) in chunkings.iter().enumerate() {
                if size > 100_000 && chunks == &[1] {
                    continue;
                }
                let w = SealedWriter::create_with(&f.tmp_dir(), &f.key, AAD.to_vec(), header)
                    .await
                    .unwrap();
                let path = f
                    .seal_with(w, &format!("{size}-{i}.clmb"), &data, chunks)
                    .await;
                assert!(
                    std::fs::read(&path).unwrap() == expected,
                    "size {size}, chunking {chunks:?}"
                );
            }
        }

        // By hand: the first segment is AES-256-GCM under the HKDF-derived file key, with the nonce
        // prefix || counter 0 || flag 0, and the header is part of its AAD.
        use aes_gcm::aead::{Aead as _, Nonce, Payload};
        let data = random(SEGMENT_LEN + 1);
        let sealed = reference_seal(&f.raw_key, salt, nonce, &data);
        let first = &sealed[HEADER_LEN..HEADER_LEN + SEALED_SEGMENT_LEN];
        let mut gcm_nonce = [0u8; 12];
        gcm_nonce[..7].copy_from_slice(&nonce);
        let gcm_nonce = Nonce::<Aes256Gcm>::from(gcm_nonce);
        let cipher = reference_file_cipher(&f.raw_key, &salt);
        let open = |aad: &[u8]| cipher.decrypt(&gcm_nonce, Payload { msg: first, aad });
        let with_header = [&sealed[..HEADER_LEN], AAD].concat();
        assert!(open(&with_header).unwrap() == data[..SEGMENT_LEN]);
        assert!(open(AAD).is_err(), "the header is authenticated");
        // And the data key itself does not open it.
        use aes_gcm::KeyInit as _;
        let by_data_key = Aes256Gcm::new_from_slice(&f.raw_key).unwrap();
        assert!(
            by_data_key
                .decrypt(
                    &gcm_nonce,
                    Payload {
                        msg: first,
                        aad: &with_header
                    }
                )
                .is_err()
        );
    }

    #[tokio::test]
    async fn same_key_and_plaintext_give_unrelated_files() {
        let f = Fixture::new();
        let data = random(3 * SEGMENT_LEN + 1000);
        // Random salts and prefixes, as in production.
        let a = std::fs::read(f.seal("a.clmb", &data, &[]).await).unwrap();
        let b = std::fs::read(f.seal("b.clmb", &data, &[]).await).unwrap();
        // The same nonce prefix forced: the salts alone must make every segment differ.
        let nonce = [7u8; NONCE_PREFIX_LEN];
        let salt_c: Salt = random(SALT_LEN).try_into().unwrap();
        let salt_d: Salt = random(SALT_LEN).try_into().unwrap();
        let mut same_prefix = Vec::new();
        for (name, salt) in [("c.clmb", salt_c), ("d.clmb", salt_d), ("e.clmb", salt_c)] {
            let w = SealedWriter::create_with(
                &f.tmp_dir(),
                &f.key,
                AAD.to_vec(),
                Header::new(&salt, &nonce),
            )
            .await
            .unwrap();
            let path = f.seal_with(w, name, &data, &[]).await;
            assert!(read_all(&path, &f.key, AAD).await.unwrap() == data);
            same_prefix.push(std::fs::read(path).unwrap());
        }
        let (c, d, e) = (&same_prefix[0], &same_prefix[1], &same_prefix[2]);
        for (x, y) in [(&a, &b), (c, d)] {
            assert_eq!(x.len(), y.len());
            assert_ne!(x[SALT_AT..NONCE_AT], y[SALT_AT..NONCE_AT]);
            let segments = |file: &[u8]| {
                file[HEADER_LEN..]
                    .chunks(SEALED_SEGMENT_LEN)
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>()
            };
            let (sx, sy) = (segments(x), segments(y));
            assert_eq!(sx.len(), 4);
            for (i, (p, q)) in sx.iter().zip(&sy).enumerate() {
                // Every 16-byte block, tags included, differs: no shared key stream, no shared tag.
                for (j, (u, v)) in p.chunks(16).zip(q.chunks(16)).enumerate() {
                    assert_ne!(u, v, "segment {i}, block {j}");
                }
            }
        }
        // Control: the same salt and prefix give the same file, so the difference is the salt's doing.
        assert!(c == e);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn chunking_never_changes_the_file(
            size in 0usize..300_000,
            chunks in proptest::collection::vec(0usize..100_000, 1..8),
            seed in any::<u8>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let f = Fixture::new();
                let nonce = [seed; NONCE_PREFIX_LEN];
                let salt = [seed ^ 0x5a; SALT_LEN];
                let header = Header::new(&salt, &nonce);
                let data: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
                let whole = SealedWriter::create_with(&f.tmp_dir(), &f.key, AAD.to_vec(), header)
                    .await
                    .unwrap();
                let a = f.seal_with(whole, "whole", &data, &[]).await;
                let chunked = SealedWriter::create_with(&f.tmp_dir(), &f.key, AAD.to_vec(), header)
                    .await
                    .unwrap();
                // Zero-sized chunks alone would never progress.
                let mut sizes = chunks.clone();
                sizes.push(1);
                let b = f.seal_with(chunked, "chunked", &data, &sizes).await;
                let bytes = std::fs::read(&a).unwrap();
                assert!(bytes == std::fs::read(&b).unwrap());
                assert!(bytes == reference_seal(&f.raw_key, salt, nonce, &data));
                assert!(read_all(&b, &f.key, AAD).await.unwrap() == data);
                assert_eq!(plaintext_len(&b).await.unwrap(), size as u64);
            });
        }
    }

    /// Rewrites the file at `path` with `change` applied to its bytes.
    fn tampered(
        f: &Fixture,
        path: &Path,
        name: &str,
        change: impl FnOnce(&mut Vec<u8>),
    ) -> PathBuf {
        let mut bytes = std::fs::read(path).unwrap();
        change(&mut bytes);
        let out = f.target(name);
        std::fs::write(&out, bytes).unwrap();
        out
    }

    #[tokio::test]
    async fn every_kind_of_tampering_is_detected() {
        let f = Fixture::new();
        let data = random(3 * SEGMENT_LEN + 1000);
        let path = f.seal("good.clmb", &data, &[]).await;
        assert!(read_all(&path, &f.key, AAD).await.unwrap() == data);
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        let seg = |i: usize| HEADER_LEN + i * SEALED_SEGMENT_LEN;
        let last_start = seg(3);

        let mut cases: Vec<(String, PathBuf)> = Vec::new();
        let flips = [
            ("magic", 0),
            ("version", 4),
            ("segment size", 6),
            ("salt start", SALT_AT),
            ("salt middle", SALT_AT + 16),
            ("salt end", NONCE_AT - 1),
            ("nonce start", NONCE_AT),
            ("nonce end", HEADER_LEN - 1),
            ("first ciphertext byte", HEADER_LEN),
            ("first tag", seg(1) - 1),
            ("second segment", seg(1) + 5),
            ("third segment tag", seg(3) - TAG_LEN),
            ("last segment", last_start),
            ("last byte", len - 1),
        ];
        for (what, at) in flips {
            let p = tampered(&f, &path, &format!("flip-{at}"), |b| b[at] ^= 0x80);
            cases.push((format!("flipped {what} byte {at}"), p));
        }
        let swap = |i: usize, j: usize| {
            move |b: &mut Vec<u8>| {
                let a = b[seg(i)..seg(i + 1)].to_vec();
                let c = b[seg(j)..seg(j + 1)].to_vec();
                b[seg(i)..seg(i + 1)].copy_from_slice(&c);
                b[seg(j)..seg(j + 1)].copy_from_slice(&a);
            }
        };
        cases.push((
            "swapped 0/1".into(),
            tampered(&f, &path, "swap01", swap(0, 1)),
        ));
        cases.push((
            "swapped 1/2".into(),
            tampered(&f, &path, "swap12", swap(1, 2)),
        ));
        cases.push((
            "dropped middle segment".into(),
            tampered(&f, &path, "drop1", |b| {
                b.drain(seg(1)..seg(2));
            }),
        ));
        cases.push((
            "duplicated segment".into(),
            tampered(&f, &path, "dup0", |b| {
                let s0 = b[seg(0)..seg(1)].to_vec();
                b.splice(seg(1)..seg(1), s0);
            }),
        ));
        for cut in [
            0,
            3,
            HEADER_LEN - 1,
            HEADER_LEN,
            HEADER_LEN + 10,
            seg(1),
            seg(2),
            seg(3),
            seg(3) + 15,
            seg(3) + 16,
            len - 1,
        ] {
            cases.push((
                format!("truncated to {cut}"),
                tampered(&f, &path, &format!("cut-{cut}"), |b| b.truncate(cut)),
            ));
        }
        for extra in [1usize, 15, 16, 17, SEALED_SEGMENT_LEN] {
            cases.push((
                format!("{extra} bytes appended"),
                tampered(&f, &path, &format!("append-{extra}"), |b| {
                    let copy = b[seg(0)..seg(0) + extra].to_vec();
                    b.extend_from_slice(&copy);
                }),
            ));
        }
        // A last segment from another file under the same data key and context (different salt, so a
        // different file key, and a different nonce prefix).
        let other = f.seal("other.clmb", &data, &[]).await;
        let other_bytes = std::fs::read(&other).unwrap();
        cases.push((
            "spliced last segment".into(),
            tampered(&f, &path, "splice", |b| {
                b.truncate(last_start);
                b.extend_from_slice(&other_bytes[last_start..]);
            }),
        ));
        cases.push(("version 2".into(), tampered(&f, &path, "v2", |b| b[4] = 2)));
        cases.push((
            "magic CLMA".into(),
            tampered(&f, &path, "magic", |b| b[3] = b'A'),
        ));
        cases.push((
            "segment size 32 KiB".into(),
            tampered(&f, &path, "seg32k", |b| {
                b[5..9].copy_from_slice(&32_768u32.to_be_bytes());
            }),
        ));
        cases.push((
            "a different nonce prefix with the same segments".into(),
            tampered(&f, &path, "nonce", |b| {
                b[NONCE_AT..HEADER_LEN].copy_from_slice(&other_bytes[NONCE_AT..HEADER_LEN]);
            }),
        ));
        cases.push((
            "a different salt with the same segments".into(),
            tampered(&f, &path, "salt", |b| {
                b[SALT_AT..NONCE_AT].copy_from_slice(&other_bytes[SALT_AT..NONCE_AT]);
            }),
        ));
        cases.push((
            "another file's header with the same segments".into(),
            tampered(&f, &path, "header", |b| {
                b[..HEADER_LEN].copy_from_slice(&other_bytes[..HEADER_LEN]);
            }),
        ));
        cases.push((
            "an all-zero salt".into(),
            tampered(&f, &path, "zero-salt", |b| b[SALT_AT..NONCE_AT].fill(0)),
        ));
        for (what, p) in &cases {
            assert_invalid(&read_all(p, &f.key, AAD).await, what);
        }

        // Wrong key and wrong context fail at open, before any data.
        let wrong_key = DataKey::generate();
        for (what, key, aad) in [
            ("wrong key", &wrong_key, AAD),
            (
                "other contract",
                &f.key,
                &b"clment/contract/v1/org-1/contract-2"[..],
            ),
            (
                "other org",
                &f.key,
                &b"clment/contract/v1/org-2/contract-1"[..],
            ),
            ("empty context", &f.key, &b""[..]),
            ("context prefix", &f.key, &AAD[..AAD.len() - 1]),
        ] {
            let err = open_sealed(&path, key, aad.to_vec()).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}");
        }
        // The original is still fine.
        assert!(read_all(&path, &f.key, AAD).await.unwrap() == data);
    }

    #[tokio::test]
    async fn every_header_byte_is_authenticated() {
        let f = Fixture::new();
        let data = random(SEGMENT_LEN + 10);
        let path = f.seal("header.clmb", &data, &[]).await;
        for at in 0..HEADER_LEN {
            for bit in [0x01, 0x80] {
                let p = tampered(&f, &path, &format!("header-{at}-{bit}"), |b| b[at] ^= bit);
                let err = open_sealed(&p, &f.key, AAD.to_vec()).await.unwrap_err();
                assert_eq!(
                    err.kind(),
                    io::ErrorKind::InvalidData,
                    "byte {at}, bit {bit:#x}"
                );
                if at >= SALT_AT {
                    // Past the fixed fields, it is the first segment that fails.
                    assert!(err.to_string().contains("authentication failed"), "{err}");
                }
            }
        }
        assert!(read_all(&path, &f.key, AAD).await.unwrap() == data);
    }

    #[tokio::test]
    async fn truncation_exactly_at_a_segment_boundary_is_detected() {
        let f = Fixture::new();
        for full in [1usize, 2, 17, 20] {
            // Exactly `full` segments of data: the file ends with an empty last segment (a bare tag).
            let data = random(full * SEGMENT_LEN);
            let path = f.seal(&format!("exact-{full}"), &data, &[]).await;
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            assert_eq!(len, HEADER_LEN + full * SEALED_SEGMENT_LEN + TAG_LEN);
            let bytes = std::fs::read(&path).unwrap();
            for keep in 0..=full {
                let cut = tampered(&f, &path, &format!("exact-{full}-cut{keep}"), |b| {
                    b.truncate(HEADER_LEN + keep * SEALED_SEGMENT_LEN);
                });
                assert_invalid(
                    &read_all(&cut, &f.key, AAD).await,
                    &format!("{full} segments cut to {keep}"),
                );
                assert_eq!(
                    plaintext_len(&cut).await.unwrap_err().kind(),
                    io::ErrorKind::InvalidData
                );
                // Dropping trailing full segments but keeping a tag-sized tail (the last full
                // segment's tag) does not pass as a last segment either.
                if keep > 0 {
                    let forged = tampered(&f, &path, &format!("exact-{full}-forge{keep}"), |b| {
                        b.truncate(HEADER_LEN + keep * SEALED_SEGMENT_LEN - SEALED_SEGMENT_LEN);
                        let tag_end = HEADER_LEN + keep * SEALED_SEGMENT_LEN;
                        b.extend_from_slice(&bytes[tag_end - TAG_LEN..tag_end]);
                    });
                    assert_invalid(
                        &read_all(&forged, &f.key, AAD).await,
                        &format!("{full} segments forged at {keep}"),
                    );
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn late_damage_ends_the_stream_after_only_authentic_data() {
        let f = Fixture::new();
        let data = random(40 * SEGMENT_LEN + 5);
        let path = f.seal("late.clmb", &data, &[]).await;
        let seg = |i: usize| HEADER_LEN + i * SEALED_SEGMENT_LEN;

        let flipped = tampered(&f, &path, "late-flip", |b| b[seg(35) + 100] ^= 1);
        let (got, err) = read_until_error(&flipped, &f.key).await;
        assert_eq!(err.unwrap().kind(), io::ErrorKind::InvalidData);
        assert!(got == data[..35 * SEGMENT_LEN], "only segments 0..35");

        let swapped = tampered(&f, &path, "late-swap", |b| {
            let s30 = b[seg(30)..seg(31)].to_vec();
            let s31 = b[seg(31)..seg(32)].to_vec();
            b[seg(30)..seg(31)].copy_from_slice(&s31);
            b[seg(31)..seg(32)].copy_from_slice(&s30);
        });
        let (got, err) = read_until_error(&swapped, &f.key).await;
        assert_eq!(err.unwrap().kind(), io::ErrorKind::InvalidData);
        assert!(got == data[..30 * SEGMENT_LEN]);

        // Cut inside segment 38: what is left of it is taken for the last segment and fails.
        let cut = tampered(&f, &path, "late-cut", |b| b.truncate(seg(38) + 1000));
        let (got, err) = read_until_error(&cut, &f.key).await;
        assert_eq!(err.unwrap().kind(), io::ErrorKind::InvalidData);
        assert!(got == data[..38 * SEGMENT_LEN]);

        // Cut at a boundary: refused at open.
        let cut = tampered(&f, &path, "late-boundary", |b| b.truncate(seg(38)));
        let (got, err) = read_until_error(&cut, &f.key).await;
        assert_eq!(err.unwrap().kind(), io::ErrorKind::InvalidData);
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn data_appended_after_open_is_detected() {
        let f = Fixture::new();
        let data = random(20 * SEGMENT_LEN + 9);
        let path = f.seal("grow.clmb", &data, &[]).await;
        let mut reader = open_sealed(&path, &f.key, AAD.to_vec()).await.unwrap();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        let mut got = Vec::new();
        let mut error = None;
        while let Some(item) = reader.next().await {
            match item {
                Ok(b) => got.extend_from_slice(&b),
                Err(e) => error = Some(e),
            }
        }
        assert_eq!(error.unwrap().kind(), io::ErrorKind::InvalidData);
        assert!(got.len() < data.len());
    }

    #[tokio::test]
    async fn plaintext_never_reaches_the_disk() {
        let f = Fixture::new();
        let canary = b"CANARY-7f3a-CONFIDENTIAL-CONTRACT-CLAUSE";
        let mut data = Vec::new();
        while data.len() < 3 * SEGMENT_LEN + 500 {
            data.extend_from_slice(canary);
        }
        for size in [canary.len(), 100, data.len()] {
            let path = f
                .seal(&format!("canary-{size}"), &data[..size], &[17])
                .await;
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(canary.len()).any(|w| w == canary));
            assert!(!bytes.windows(12).any(|w| w == &canary[..12]));
            assert!(
                !bytes.windows(AAD.len()).any(|w| w == AAD),
                "AAD is not stored"
            );
            assert!(read_all(&path, &f.key, AAD).await.unwrap() == data[..size]);
        }
    }

    #[tokio::test]
    async fn temp_file_is_private_then_published_without_leftovers() {
        let f = Fixture::new();
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        w.write(&random(100)).await.unwrap();
        let temps = f.temp_files();
        assert_eq!(temps.len(), 1);
        assert!(temps[0].starts_with(".seal-"), "{temps:?}");
        let mode = std::fs::metadata(f.tmp_dir().join(&temps[0]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let target = f.target("published.clmb");
        assert!(!target.exists());
        assert_eq!(w.commit(&target).await.unwrap(), 100);
        assert!(f.temp_files().is_empty());
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::os::unix::fs::MetadataExt::nlink(&meta), 1);
    }

    #[tokio::test]
    async fn commit_never_overwrites() {
        let f = Fixture::new();
        let target = f.target("taken.clmb");
        std::fs::write(&target, b"the first upload").unwrap();
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        w.write(&random(2 * SEGMENT_LEN + 3)).await.unwrap();
        let err = w.commit(&target).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&target).unwrap(), b"the first upload");
        assert!(f.temp_files().is_empty());

        // Two racing writers for one target: exactly one wins, and its data is what is stored.
        let a = random(70_000);
        let b = random(70_001);
        let mut wa = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        let mut wb = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        wa.write(&a).await.unwrap();
        wb.write(&b).await.unwrap();
        let target = f.target("raced.clmb");
        let (ra, rb) = tokio::join!(wa.commit(&target), wb.commit(&target));
        assert!(ra.is_ok() != rb.is_ok(), "{ra:?} {rb:?}");
        let stored = read_all(&target, &f.key, AAD).await.unwrap();
        assert!(if ra.is_ok() { stored == a } else { stored == b });
        assert!(f.temp_files().is_empty());
    }

    #[tokio::test]
    async fn failed_commit_removes_the_temp_file() {
        let f = Fixture::new();
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        w.write(b"x").await.unwrap();
        let err = w
            .commit(&f.root.path().join("missing-dir").join("x.clmb"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(f.temp_files().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abort_and_drop_leave_no_temp_file() {
        let f = Fixture::new();
        // Abort, with a batch possibly still in flight.
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        w.write(&random(3 << 20)).await.unwrap();
        assert_eq!(f.temp_files().len(), 1);
        w.abort().await;
        assert!(f.temp_files().is_empty());

        // Dropped right after create.
        let w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        assert_eq!(f.temp_files().len(), 1);
        drop(w);
        assert!(f.temp_files().is_empty());

        // Dropped mid-stream.
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        w.write(&random((2 << 20) + 5)).await.unwrap();
        drop(w);
        assert!(f.temp_files().is_empty());

        // A cancelled write leaves the writer unusable; dropping it cleans up.
        let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
            .await
            .unwrap();
        let big = random(8 << 20);
        {
            let mut write = std::pin::pin!(w.write(&big));
            // Poll once: it hands off a batch and then waits for it; then it is dropped.
            let mut cx = Context::from_waker(std::task::Waker::noop());
            assert!(write.as_mut().poll(&mut cx).is_pending());
        }
        assert!(w.write(b"more").await.is_err());
        assert!(w.commit(&f.target("cancelled.clmb")).await.is_err());
        assert!(!f.target("cancelled.clmb").exists());
        assert!(f.temp_files().is_empty());
    }

    #[tokio::test]
    async fn missing_files_and_impossible_sizes() {
        let f = Fixture::new();
        let missing = f.target("missing.clmb");
        assert_eq!(
            open_sealed(&missing, &f.key, AAD.to_vec())
                .await
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            plaintext_len(&missing).await.unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let dir = f.root.path().join("blobs");
        assert_eq!(
            open_sealed(&dir, &f.key, AAD.to_vec())
                .await
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
        let plain = f.target("plain.pdf");
        std::fs::write(&plain, b"%PDF-1.7 not sealed at all").unwrap();
        assert_eq!(
            plaintext_len(&plain).await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_invalid(&read_all(&plain, &f.key, AAD).await, "plain file");
    }

    #[test]
    fn layout_follows_from_the_size() {
        assert_eq!(HEADER_LEN, 48);
        let h = HEADER_LEN as u64;
        let s = SEALED_SEGMENT_LEN as u64;
        let t = TAG_LEN as u64;
        assert_eq!(Layout::of_file(h + t).unwrap().plaintext_len(), 0);
        assert_eq!(Layout::of_file(h + s + t).unwrap().plaintext_len(), 65_536);
        assert_eq!(
            Layout::of_file(h + s + t + 1).unwrap().plaintext_len(),
            65_537
        );
        assert_eq!(
            Layout::of_file(h + 2 * s - 1).unwrap().plaintext_len(),
            2 * 65_536 - 1
        );
        for bad in [0, h - 1, h, h + t - 1, h + s, h + s + t - 1, h + 3 * s] {
            assert!(Layout::of_file(bad).is_err(), "{bad}");
        }
        assert!(Layout::of_file(h + (u64::from(u32::MAX) + 1) * s + t).is_err());
        assert!(Layout::of_file(h + u64::from(u32::MAX) * s + t).is_ok());
    }

    #[test]
    fn reader_fits_warp_streams_and_writer_is_send() {
        fn reader<T: Stream<Item = io::Result<Bytes>> + Send + Sync + Unpin + 'static>() {}
        fn writer<T: Send + Sync + 'static>() {}
        reader::<SealedReader>();
        writer::<SealedWriter>();
    }

    /// Release-mode throughput check, not a unit test:
    /// `cargo test -p clment-local --release -- --ignored --nocapture throughput`.
    #[test]
    #[ignore = "throughput check; run in release with --ignored --nocapture"]
    fn throughput() {
        const TOTAL: usize = 50 << 20;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let f = Fixture::new();
            let data = random(TOTAL);
            let mb = TOTAL as f64 / 1e6;

            // The raw cipher on one core, for reference.
            let cipher =
                StreamBE32::<Aes256Gcm>::from_aead(f.key.file_cipher(&[0u8; SALT_LEN]), &[0u8; 7].into());
            let mut buf = data[..SEGMENT_LEN * 64].to_vec();
            buf.truncate(SEGMENT_LEN);
            let started = Instant::now();
            let rounds = TOTAL / SEGMENT_LEN;
            let mut region = vec![0u8; SEALED_SEGMENT_LEN];
            for i in 0..rounds {
                region[..SEGMENT_LEN].copy_from_slice(&buf);
                let position = u32::try_from(i).unwrap();
                cipher
                    .encrypt_in_place(position, false, AAD, &mut SegmentBuf::new(&mut region, SEGMENT_LEN))
                    .unwrap();
            }
            let raw = mb / started.elapsed().as_secs_f64();

            for chunk in [16 << 10, 64 << 10, 1 << 20] {
                let name = format!("bench-{chunk}");
                let started = Instant::now();
                let mut w = SealedWriter::create(&f.tmp_dir(), &f.key, AAD.to_vec())
                    .await
                    .unwrap();
                for c in data.chunks(chunk) {
                    w.write(c).await.unwrap();
                }
                let writes = started.elapsed();
                let path = f.target(&name);
                w.commit(&path).await.unwrap();
                let total = started.elapsed();
                let seal = mb / total.as_secs_f64();

                let started = Instant::now();
                let mut reader = open_sealed(&path, &f.key, AAD.to_vec()).await.unwrap();
                let mut n = 0;
                while let Some(segment) = reader.next().await {
                    n += segment.unwrap().len();
                }
                let open = mb / started.elapsed().as_secs_f64();
                assert_eq!(n, TOTAL);
                println!(
                    "50 MiB in {:>4} KiB writes: seal {seal:.0} MB/s end to end ({:.0} ms writing, {:.0} ms \
                     commit incl. fsync); open+read {open:.0} MB/s",
                    chunk >> 10,
                    writes.as_secs_f64() * 1e3,
                    (total - writes).as_secs_f64() * 1e3,
                );
            }
            println!("raw AES-256-GCM STREAM, one core: {raw:.0} MB/s");
        });
    }
}
