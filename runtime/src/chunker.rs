//! Content-defined chunking of streamed bodies (DESIGN §2 "write": FastCDC). Bytes are buffered
//! until at least [`CHUNK_BYTES_MAX`] are held (or the body ends); FastCDC's first cut in such a
//! buffer is final, so streaming gives exactly the chunks of chunking the whole file at once,
//! while memory stays bounded by one maximum chunk plus one incoming frame. Each chunk is copied
//! out of the buffer, so a chunk still being replicated never pins the (reused) buffer.

use bytes::{Buf, Bytes, BytesMut};

/// Smallest chunk (except a file's last).
pub const CHUNK_BYTES_MIN: usize = 512 * 1024;
/// Typical chunk.
pub const CHUNK_BYTES_AVG: usize = 2 * 1024 * 1024;
/// Largest chunk.
pub const CHUNK_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Splits a stream of bytes into content-defined chunks.
#[derive(Debug)]
pub struct Chunker {
    buffer: BytesMut,
}

impl Default for Chunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunker {
    /// A chunker with an empty buffer.
    pub fn new() -> Self {
        Self { buffer: BytesMut::with_capacity(2 * CHUNK_BYTES_MAX) }
    }

    /// Copies the first `len` buffered bytes out as a chunk.
    fn take(&mut self, len: usize) -> Bytes {
        let chunk = Bytes::copy_from_slice(&self.buffer[..len]);
        self.buffer.advance(len);
        chunk
    }

    /// Adds `data`; returns the chunks that are now final.
    pub fn push(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buffer.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buffer.len() >= CHUNK_BYTES_MAX {
            let cut = first_cut(&self.buffer);
            out.push(self.take(cut));
        }
        out
    }

    /// Ends the stream; returns the remaining chunks.
    pub fn finish(mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        while !self.buffer.is_empty() {
            let cut = first_cut(&self.buffer);
            out.push(self.take(cut));
        }
        out
    }
}

fn first_cut(buffer: &[u8]) -> usize {
    fastcdc::v2020::FastCDC::new(buffer, CHUNK_BYTES_MIN, CHUNK_BYTES_AVG, CHUNK_BYTES_MAX)
        .next()
        .map_or(buffer.len(), |chunk| chunk.length)
        .clamp(1, buffer.len())
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.gen()).collect()
    }

    fn stream(bytes: &[u8], piece: usize) -> Vec<Bytes> {
        let mut chunker = Chunker::new();
        let mut out = Vec::new();
        for part in bytes.chunks(piece.max(1)) {
            out.extend(chunker.push(part));
        }
        out.extend(chunker.finish());
        out
    }

    #[test]
    fn streaming_gives_the_same_chunks_whatever_the_frame_size() {
        let bytes = data(30 * 1024 * 1024 + 123, 1);
        let whole = stream(&bytes, bytes.len());
        assert_eq!(whole.concat(), bytes, "chunks cover the input exactly");
        assert!(whole.len() > 5, "a 30 MiB file splits into several chunks");
        assert!(whole.iter().all(|c| c.len() <= CHUNK_BYTES_MAX));
        for piece in [1000, 64 * 1024, 3 * 1024 * 1024 + 7] {
            assert_eq!(stream(&bytes, piece), whole, "frame size {piece}");
        }
    }

    #[test]
    fn an_edit_changes_only_nearby_chunks() {
        let bytes = data(20 * 1024 * 1024, 2);
        let mut edited = bytes.clone();
        edited[10 * 1024 * 1024] ^= 0xff;
        let (a, b) = (stream(&bytes, 65536), stream(&edited, 65536));
        let shared = a.iter().filter(|c| b.contains(c)).count();
        assert!(shared + 2 >= a.len(), "{shared} of {} chunks shared", a.len());
    }

    #[test]
    fn small_and_empty_bodies() {
        assert!(stream(&[], 10).is_empty());
        assert_eq!(stream(b"hello", 2), vec![Bytes::from_static(b"hello")]);
    }
}
