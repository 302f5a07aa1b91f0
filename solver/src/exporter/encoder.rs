//! Layer encoders for exports, with BuildKit's `compression-level`:
//! gzip takes 0–9 as they are; zstd takes 0–22 and, as BuildKit maps them
//! onto its Go encoder's four speeds, kiln maps them onto the libzstd
//! levels those speeds stand for (below 3: 1, below 7: 3, below 9: 7,
//! else 11), so a level gives the same kind of blob as with buildx.
//!
//! Both use every core. zstd runs its own worker threads (always in its
//! multi-threaded mode, whose output does not depend on the number of
//! workers). gzip is written as a series of gzip members of 4 MiB of input
//! each, compressed in parallel (as pigz does; every gzip reader, Go's
//! included, reads concatenated members as one stream); the member size is
//! fixed, so the bytes are the same on any machine.

use std::io::{self, Write};

use kiln_cache::compression::Compression;
use rayon::prelude::*;

/// Input bytes per gzip member.
const GZIP_MEMBER: usize = 4 << 20;
const GZIP_DEFAULT: u32 = 6;
const ZSTD_DEFAULT: i32 = 3;
/// Input bytes per zstd job. libzstd's own choice grows with the level's
/// window (32 MiB at level 3), and each worker holds a job's input and
/// output: ~100 MiB at the default. 2 MiB keeps an export's memory near
/// 25 MiB; the jobs still overlap by a window, so the ratio stays.
const ZSTD_JOB: u32 = 2 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LevelError {
    #[error("compression-level {level}: {compression} takes 0 to {max}")]
    Range {
        compression: Compression,
        level: i32,
        max: i32,
    },
    #[error("compression-level {0}: uncompressed layers take no level")]
    Uncompressed(i32),
}

/// A compression and its level as the user gave it (`None`: the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerCompression {
    pub compression: Compression,
    pub level: Option<i32>,
}

impl LayerCompression {
    /// Checks `level` against the ranges BuildKit accepts.
    pub fn new(compression: Compression, level: Option<i32>) -> Result<Self, LevelError> {
        if let Some(l) = level {
            let max = match compression {
                Compression::Gzip => 9,
                Compression::Zstd => 22,
                Compression::None => return Err(LevelError::Uncompressed(l)),
            };
            if !(0..=max).contains(&l) {
                return Err(LevelError::Range {
                    compression,
                    level: l,
                    max,
                });
            }
        }
        Ok(LayerCompression { compression, level })
    }

    /// The libzstd level for a BuildKit zstd level.
    fn zstd_level(&self) -> i32 {
        match self.level {
            None => ZSTD_DEFAULT,
            Some(l) if l < 3 => 1,
            Some(l) if l < 7 => 3,
            Some(l) if l < 9 => 7,
            Some(_) => 11,
        }
    }
}

/// A compressing writer; `finish` writes what is buffered and the trailer.
pub enum LayerEncoder<W: Write> {
    Plain(W),
    Gzip(ParallelGzip<W>),
    Zstd(Box<zstd::stream::write::Encoder<'static, W>>),
}

impl<W: Write> LayerEncoder<W> {
    pub fn new(sink: W, how: LayerCompression) -> io::Result<Self> {
        Ok(match how.compression {
            Compression::None => LayerEncoder::Plain(sink),
            Compression::Gzip => LayerEncoder::Gzip(ParallelGzip::new(
                sink,
                how.level.map_or(GZIP_DEFAULT, |l| l as u32),
            )),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(sink, how.zstd_level())?;
                enc.multithread(kiln_cache::compression::default_threads().max(1))?;
                enc.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB))?;
                LayerEncoder::Zstd(Box::new(enc))
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            LayerEncoder::Plain(w) => Ok(w),
            LayerEncoder::Gzip(g) => g.finish(),
            LayerEncoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LayerEncoder::Plain(w) => w.write(buf),
            LayerEncoder::Gzip(g) => g.write(buf),
            LayerEncoder::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LayerEncoder::Plain(w) => w.flush(),
            LayerEncoder::Gzip(g) => g.flush(),
            LayerEncoder::Zstd(z) => z.flush(),
        }
    }
}

/// gzip members compressed in parallel, written in order. One batch of
/// members is held at a time, one member per worker, and its buffers are
/// reused for the next batch: memory stays a few MiB whatever the layer's
/// size, and the allocator is not asked for fresh 4 MiB blocks per member.
pub struct ParallelGzip<W: Write> {
    sink: W,
    level: u32,
    /// The batch; members before `full` hold GZIP_MEMBER input bytes, the
    /// one at `full` (if any) is being filled.
    members: Vec<Member>,
    full: usize,
    /// Members per batch: one per worker.
    batch: usize,
}

/// One member's input and its compressed bytes.
#[derive(Default)]
struct Member {
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Member {
    fn compress(&mut self, level: u32) -> io::Result<()> {
        self.output.clear();
        // Room for incompressible input (deflate's stored blocks cost 5
        // bytes per 16 KiB, plus the gzip header and trailer): the output
        // is never grown and copied.
        self.output
            .reserve(self.input.len() + self.input.len() / 1024 + 64);
        let mut enc =
            flate2::write::GzEncoder::new(&mut self.output, flate2::Compression::new(level));
        enc.write_all(&self.input)?;
        enc.finish()?;
        Ok(())
    }
}

impl<W: Write> ParallelGzip<W> {
    fn new(sink: W, level: u32) -> Self {
        ParallelGzip {
            sink,
            level,
            members: Vec::new(),
            full: 0,
            batch: rayon::current_num_threads().max(1),
        }
    }

    /// The member being filled, made on first use.
    fn filling(&mut self) -> &mut Member {
        if self.members.len() == self.full {
            self.members.push(Member {
                input: Vec::with_capacity(GZIP_MEMBER),
                output: Vec::new(),
            });
        }
        &mut self.members[self.full]
    }

    /// Compresses the full members and writes them, in order.
    fn drain(&mut self) -> io::Result<()> {
        let level = self.level;
        let batch = &mut self.members[..self.full];
        let results: Vec<io::Result<()>> =
            batch.par_iter_mut().map(|m| m.compress(level)).collect();
        for (m, r) in batch.iter_mut().zip(results) {
            r?;
            self.sink.write_all(&m.output)?;
            m.input.clear();
        }
        self.full = 0;
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        if self
            .members
            .get(self.full)
            .is_some_and(|m| !m.input.is_empty())
        {
            self.full += 1;
        }
        self.drain()?;
        Ok(self.sink)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.full == self.batch {
            self.drain()?;
        }
        let member = self.filling();
        let take = buf.len().min(GZIP_MEMBER - member.input.len());
        member.input.extend_from_slice(&buf[..take]);
        if member.input.len() == GZIP_MEMBER {
            self.full += 1;
        }
        Ok(take)
    }

    /// Members end only at 4 MiB of input or at `finish`: a flush writes
    /// nothing early, since cutting a member short would make the bytes
    /// depend on the caller's buffer sizes.
    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn encode(how: LayerCompression, data: &[u8]) -> Vec<u8> {
        let mut enc = LayerEncoder::new(Vec::new(), how).unwrap();
        // Odd write sizes: the output must not depend on them.
        for chunk in data.chunks(70_001) {
            enc.write_all(chunk).unwrap();
        }
        enc.finish().unwrap()
    }

    fn data() -> Vec<u8> {
        (0..9_500_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 % 17)
            .collect()
    }

    #[test]
    fn parallel_gzip_reads_back_as_one_stream_and_is_stable() {
        let data = data();
        let how = LayerCompression::new(Compression::Gzip, None).unwrap();
        let blob = encode(how, &data);
        assert_eq!(blob, encode(how, &data));
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&blob[..])
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == data);
        let fast = encode(
            LayerCompression::new(Compression::Gzip, Some(1)).unwrap(),
            &data,
        );
        assert_ne!(fast, blob, "level 1 makes other bytes than level 6");
    }

    #[test]
    fn parallel_gzip_is_independent_4_mib_members_in_order() {
        // The layout the blob's digest depends on: a batch size or buffer
        // reuse must never change it.
        let data = data();
        for level in [None, Some(1)] {
            let how = LayerCompression::new(Compression::Gzip, level).unwrap();
            let mut expected = Vec::new();
            for member in data.chunks(GZIP_MEMBER) {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::new(),
                    flate2::Compression::new(level.map_or(GZIP_DEFAULT, |l| l as u32)),
                );
                enc.write_all(member).unwrap();
                expected.extend(enc.finish().unwrap());
            }
            assert!(encode(how, &data) == expected, "level {level:?}");
        }
        let empty = encode(LayerCompression::new(Compression::Gzip, None).unwrap(), &[]);
        assert!(empty.is_empty(), "no member for no input, as before");
    }

    #[test]
    fn zstd_levels_map_as_buildkit_does() {
        let data = data();
        let at = |l| encode(LayerCompression::new(Compression::Zstd, l).unwrap(), &data);
        assert_eq!(at(Some(4)), at(None), "4 and 6 are the default speed");
        assert_eq!(at(Some(0)), at(Some(2)));
        assert!(at(Some(12)).len() <= at(Some(0)).len());
        let mut out = Vec::new();
        zstd::stream::read::Decoder::new(&at(Some(22))[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == data);
    }

    #[test]
    fn levels_out_of_range_are_refused() {
        assert!(LayerCompression::new(Compression::Gzip, Some(10)).is_err());
        assert!(LayerCompression::new(Compression::Zstd, Some(23)).is_err());
        assert!(LayerCompression::new(Compression::Zstd, Some(-1)).is_err());
        assert!(LayerCompression::new(Compression::None, Some(1)).is_err());
        assert!(LayerCompression::new(Compression::Zstd, Some(22)).is_ok());
    }
}
