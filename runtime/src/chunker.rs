//! Content-defined chunking of streamed bodies (DESIGN §2 "write": FastCDC). Bytes are buffered
//! until at least [`CHUNK_BYTES_MAX`] are held (or the body ends); FastCDC's first cut in such a
//! buffer is final, so streaming gives exactly the chunks of chunking the whole file at once,
//! while memory stays bounded by one maximum chunk plus one incoming frame. Each chunk is copied
//! out of the buffer, so a chunk still being replicated never pins the (reused) buffer.
//! [`fuzz_chunker`] is the fuzz body (`fuzz/`): chunks cover the input, sizes stay in bounds,
//! and streaming in any pieces gives the chunks of the whole.

use bytes::{Buf, Bytes, BytesMut};

/// Smallest chunk (except a file's last).
pub const CHUNK_BYTES_MIN: usize = 512 * 1024;
/// Typical chunk.
pub const CHUNK_BYTES_AVG: usize = 2 * 1024 * 1024;
/// Largest chunk.
pub const CHUNK_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Chunk size bounds: FastCDC's minimum, average and maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSizes {
    /// Smallest chunk (except a stream's last); at least 64.
    pub min: usize,
    /// Typical chunk; at least 256.
    pub avg: usize,
    /// Largest chunk; at least 1024.
    pub max: usize,
}

impl ChunkSizes {
    /// What every node uses: [`CHUNK_BYTES_MIN`], [`CHUNK_BYTES_AVG`], [`CHUNK_BYTES_MAX`].
    pub const DEFAULT: Self =
        Self { min: CHUNK_BYTES_MIN, avg: CHUNK_BYTES_AVG, max: CHUNK_BYTES_MAX };

    /// These bounds raised to FastCDC's floors and put in order (min <= avg <= max).
    pub fn clamped(self) -> Self {
        let min = self.min.clamp(fastcdc::v2020::MINIMUM_MIN, fastcdc::v2020::MINIMUM_MAX);
        let avg = self.avg.clamp(fastcdc::v2020::AVERAGE_MIN, fastcdc::v2020::AVERAGE_MAX).max(min);
        let max = self.max.clamp(fastcdc::v2020::MAXIMUM_MIN, fastcdc::v2020::MAXIMUM_MAX).max(avg);
        Self { min, avg, max }
    }
}

/// Splits a stream of bytes into content-defined chunks.
#[derive(Debug)]
pub struct Chunker {
    buffer: BytesMut,
    sizes: ChunkSizes,
}

impl Default for Chunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunker {
    /// A chunker with an empty buffer and the default sizes.
    pub fn new() -> Self {
        Self::with_sizes(ChunkSizes::DEFAULT)
    }

    /// A chunker cutting `sizes` (clamped to FastCDC's floors); fuzzing uses small ones.
    pub fn with_sizes(sizes: ChunkSizes) -> Self {
        let sizes = sizes.clamped();
        Self { buffer: BytesMut::with_capacity(2 * sizes.max), sizes }
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
        while self.buffer.len() >= self.sizes.max {
            let cut = first_cut(&self.buffer, self.sizes);
            out.push(self.take(cut));
        }
        out
    }

    /// Ends the stream; returns the remaining chunks.
    pub fn finish(mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        while !self.buffer.is_empty() {
            let cut = first_cut(&self.buffer, self.sizes);
            out.push(self.take(cut));
        }
        out
    }
}

fn first_cut(buffer: &[u8], sizes: ChunkSizes) -> usize {
    fastcdc::v2020::FastCDC::new(buffer, sizes.min, sizes.avg, sizes.max)
        .next()
        .map_or(buffer.len(), |chunk| chunk.length)
        .clamp(1, buffer.len())
}

/// Fuzz body: the first two bytes choose the sizes and the piece length; the rest is streamed.
/// The chunks must reassemble to the input, every chunk must be at most `max` and, except the
/// last, at least `min`, and streaming must give the chunks of pushing everything at once.
pub fn fuzz_chunker(bytes: &[u8]) {
    let (shape, data) = bytes.split_at(bytes.len().min(2));
    let [a, b] = [shape.first().copied().unwrap_or(0), shape.get(1).copied().unwrap_or(0)];
    let min = 64 + usize::from(a % 16) * 16;
    let sizes = ChunkSizes { min, avg: (min * 4).max(256), max: (min * 16).max(1024) }.clamped();
    let piece = 1 + usize::from(b) * 7;
    let chunks_of = |piece: usize| {
        let mut chunker = Chunker::with_sizes(sizes);
        let mut out = Vec::new();
        for part in data.chunks(piece) {
            out.extend(chunker.push(part));
        }
        out.extend(chunker.finish());
        out
    };
    let streamed = chunks_of(piece);
    assert_eq!(streamed.concat(), data, "chunks reassemble to the input");
    assert!(streamed.iter().all(|c| !c.is_empty() && c.len() <= sizes.max), "chunk over max");
    let (_, body) = streamed.split_last().unwrap_or((&Bytes::new(), &[]));
    assert!(body.iter().all(|c| c.len() >= sizes.min), "a chunk before the last is under min");
    assert_eq!(streamed, chunks_of(data.len().max(1)), "streaming cuts like the whole");
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
    fn the_fuzz_body_holds_on_seeded_input() {
        for seed in 0..64u64 {
            let len = (seed as usize * 977) % 20_000;
            fuzz_chunker(&data(len, seed));
        }
        fuzz_chunker(&[]);
        fuzz_chunker(&[0xff, 0xff]);
    }

    #[test]
    fn small_and_empty_bodies() {
        assert!(stream(&[], 10).is_empty());
        assert_eq!(stream(b"hello", 2), vec![Bytes::from_static(b"hello")]);
    }
}
