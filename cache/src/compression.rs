//! Layer compression: gzip, zstd or none when writing; the same plus xz and
//! bzip2 when reading, because `docker import` accepts rootfs tars in all of
//! them. The format of a stream is told by its magic bytes, never by a file
//! name or a media type alone (registries and archives mislabel layers).

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::str::FromStr;

/// zstd's default level, which is what BuildKit uses for `compression=zstd`.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error("unknown compression {0:?} (expected gzip, zstd or uncompressed)")]
    Unknown(String),
    #[error("reading the compression header")]
    Io(#[from] io::Error),
}

/// How kiln writes a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The name used in flags and in the store's per-compression records.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = CompressionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uncompressed" | "none" | "tar" => Ok(Compression::None),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "zstd" | "zst" => Ok(Compression::Zstd),
            other => Err(CompressionError::Unknown(other.to_string())),
        }
    }
}

/// What a stream's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Format {
    /// The writable compression this format is, if kiln writes it.
    pub fn compression(self) -> Option<Compression> {
        match self {
            Format::None => Some(Compression::None),
            Format::Gzip => Some(Compression::Gzip),
            Format::Zstd => Some(Compression::Zstd),
            Format::Xz | Format::Bzip2 => None,
        }
    }
}

/// Tells the format from the first bytes of a stream (six are enough).
pub fn detect(prefix: &[u8]) -> Format {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::Zstd
    } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Format::Xz
    } else if prefix.starts_with(b"BZh") {
        Format::Bzip2
    } else {
        Format::None
    }
}

/// Peeks at `reader` and returns the format and a reader of the
/// decompressed bytes.
pub fn decoder<'a, R: BufRead + 'a>(
    mut reader: R,
) -> Result<(Format, Box<dyn Read + 'a>), CompressionError> {
    let format = detect(peek(&mut reader, 6)?);
    let decoded: Box<dyn Read + 'a> = match format {
        Format::None => Box::new(reader),
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Format::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Format::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(reader)),
        Format::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
    };
    Ok((format, decoded))
}

/// Returns up to `n` bytes from the front of `reader` without consuming them.
/// This is what one `fill_buf` gives: files and pipes hand over far more
/// than six bytes in their first read.
fn peek<R: BufRead>(reader: &mut R, n: usize) -> io::Result<&[u8]> {
    let available = reader.fill_buf()?.len();
    let len = available.min(n);
    Ok(&reader.fill_buf()?[..len])
}

/// A compressing writer; `finish` flushes the trailer and returns the sink.
pub enum Encoder<W: Write> {
    Plain(W),
    Gzip(Box<flate2::write::GzEncoder<W>>),
    Zstd(Box<zstd::stream::write::Encoder<'static, W>>),
}

impl<W: Write> Encoder<W> {
    /// `threads` applies to zstd only (its own worker threads); 0 or 1 means
    /// compress on the calling thread.
    pub fn new(sink: W, compression: Compression, threads: u32) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::None => Encoder::Plain(sink),
            Compression::Gzip => Encoder::Gzip(Box::new(flate2::write::GzEncoder::new(
                sink,
                flate2::Compression::default(),
            ))),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)?;
                if threads > 1 {
                    enc.multithread(threads)?;
                }
                Encoder::Zstd(Box::new(enc))
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(enc) => enc.finish(),
            Encoder::Zstd(enc) => enc.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(enc) => enc.write(buf),
            Encoder::Zstd(enc) => enc.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(enc) => enc.flush(),
            Encoder::Zstd(enc) => enc.flush(),
        }
    }
}

/// Worker threads for zstd: every core but leave the caller's own thread
/// busy hashing and walking, which is what `zstd -T0` would pick here too.
pub fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(compression: Compression, threads: u32) -> (Format, Vec<u8>) {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut enc = Encoder::new(Vec::new(), compression, threads).unwrap();
        enc.write_all(&data).unwrap();
        let blob = enc.finish().unwrap();
        let mut out = Vec::new();
        let format = {
            let (format, mut dec) = decoder(io::BufReader::new(&blob[..])).unwrap();
            dec.read_to_end(&mut out).unwrap();
            format
        };
        assert_eq!(out, data);
        (format, blob)
    }

    #[test]
    fn gzip_roundtrip_is_detected() {
        let (format, blob) = roundtrip(Compression::Gzip, 1);
        assert_eq!(format, Format::Gzip);
        assert!(blob.len() < 200_000);
    }

    #[test]
    fn zstd_multithreaded_roundtrip_is_detected() {
        assert_eq!(roundtrip(Compression::Zstd, 2).0, Format::Zstd);
    }

    #[test]
    fn plain_passes_through() {
        let (format, blob) = roundtrip(Compression::None, 1);
        assert_eq!(format, Format::None);
        assert_eq!(blob.len(), 200_000);
    }

    #[test]
    fn xz_and_bzip2_are_read() {
        let data = b"hello layer".repeat(100);
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&data).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&data).unwrap();
        for (blob, want) in [
            (xz.finish().unwrap(), Format::Xz),
            (bz.finish().unwrap(), Format::Bzip2),
        ] {
            let (format, mut dec) = decoder(&blob[..]).unwrap();
            let mut out = Vec::new();
            dec.read_to_end(&mut out).unwrap();
            assert_eq!((format, out.as_slice()), (want, data.as_slice()));
        }
    }

    #[test]
    fn empty_stream_is_plain() {
        let (format, mut dec) = decoder(&b""[..]).unwrap();
        let mut out = Vec::new();
        dec.read_to_end(&mut out).unwrap();
        assert_eq!((format, out.len()), (Format::None, 0));
    }

    #[test]
    fn names_parse() {
        assert_eq!("zstd".parse::<Compression>().unwrap(), Compression::Zstd);
        assert!("lz4".parse::<Compression>().is_err());
    }
}
