//! `--expose`: ports the container exposes besides the image's EXPOSE, as
//! `PORT/PROTO` keys (ranges expanded), which `-P` publishes and `inspect`
//! lists under `ExposedPorts`.

use std::collections::BTreeSet;

use super::options::CreateOptions;
use crate::image::Image;
use crate::Error;

/// Docker's limit on one range, so a typo cannot expose 65535 ports.
const MAX_RANGE: u32 = 65535;

/// The image's exposed ports and the option's, each once, sorted.
pub(super) fn exposed(opts: &CreateOptions, image: &Image) -> Result<Vec<String>, Error> {
    let mut all: BTreeSet<String> = image.exposed_ports().into_iter().collect();
    for value in &opts.expose {
        all.extend(parse(value)?);
    }
    Ok(all.into_iter().collect())
}

fn bad(value: &str, reason: &str) -> Error {
    Error::BadFlag {
        flag: "--expose",
        value: value.to_string(),
        reason: format!("invalid range format for --expose: {value}, error: {reason}"),
    }
}

/// `80`, `80/udp`, `8000-8010/tcp` → `80/tcp` … (Docker's `nat` rules).
fn parse(value: &str) -> Result<Vec<String>, Error> {
    if value.contains(':') {
        return Err(Error::BadFlag {
            flag: "--expose",
            value: value.to_string(),
            reason: format!("invalid port format for --expose: {value}"),
        });
    }
    let (ports, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(value, &format!("invalid proto: {proto}")));
    }
    let number = |p: &str| -> Result<u32, Error> {
        p.parse::<u16>()
            .map(u32::from)
            .map_err(|_| bad(value, &format!("invalid port: {p:?}")))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => (number(ports)?, number(ports)?),
    };
    if end < start || end - start >= MAX_RANGE {
        return Err(bad(value, &format!("invalid range specified: {ports}")));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges_become_keys() {
        assert_eq!(parse("80").unwrap(), ["80/tcp"]);
        assert_eq!(parse("53/udp").unwrap(), ["53/udp"]);
        assert_eq!(
            parse("8000-8002/tcp").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        for bad in ["", "http", "80/icmp", "90-80", "1:80", "70000"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("--expose"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_image_ports_come_too() {
        let o = CreateOptions {
            expose: vec!["81".into(), "80".into()],
            ..CreateOptions::default()
        };
        assert_eq!(
            exposed(&o, &Image::default()).unwrap(),
            ["80/tcp", "81/tcp"]
        );
    }
}
