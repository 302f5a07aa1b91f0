//! Published ports: `-p` specs, and `-P`'s EXPOSEd ports.

use kiln_runtime::network::PortBinding;

use super::options::CreateOptions;
use crate::image::Image;
use crate::Error;

/// `-p` bindings, then each EXPOSEd port `-P` adds that no `-p` already
/// binds (to a free host port).
pub(super) fn ports(opts: &CreateOptions, image: &Image) -> Result<Vec<PortBinding>, Error> {
    let mut all: Vec<PortBinding> = opts
        .publish
        .iter()
        .map(|p| PortBinding::parse(p))
        .collect::<Result<_, _>>()?;
    if opts.publish_all {
        for exposed in super::expose::exposed(opts, image)? {
            let b = PortBinding::parse(&exposed)?;
            if !all
                .iter()
                .any(|p| p.container_port == b.container_port && p.proto == b.proto)
            {
                all.push(b);
            }
        }
    }
    if !all.is_empty() && opts.network == "host" {
        return Err(Error::PortsOnHost);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposing(ports: &str) -> Image {
        let raw = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},
                "config":{{"ExposedPorts":{ports}}}}}"#
        );
        let blob = kiln_cache::image::config::ConfigBlob::parse(raw.into_bytes()).unwrap();
        Image {
            config: blob.config,
            ..Image::default()
        }
    }

    fn publish(specs: &[&str], all: bool) -> CreateOptions {
        CreateOptions {
            publish: specs.iter().map(|s| s.to_string()).collect(),
            publish_all: all,
            ..CreateOptions::default()
        }
    }

    fn summary(b: &[PortBinding]) -> Vec<(u16, String)> {
        b.iter()
            .map(|p| (p.container_port, p.proto.as_str().to_string()))
            .collect()
    }

    #[test]
    fn publish_all_adds_exposed_ports_not_already_published() {
        let image = exposing(r#"{"80/tcp":{},"53/udp":{},"443/tcp":{}}"#);
        let b = ports(&publish(&["8080:80"], true), &image).unwrap();
        assert_eq!(
            summary(&b),
            [(80, "tcp".into()), (443, "tcp".into()), (53, "udp".into())]
        );
        assert!(ports(&publish(&[], false), &image).unwrap().is_empty());
    }

    #[test]
    fn a_bad_spec_is_refused() {
        let err = ports(&publish(&["x:y:z:w"], false), &Image::default()).unwrap_err();
        assert!(matches!(err, Error::Port(_)), "{err}");
    }

    #[test]
    fn host_network_refuses_published_ports() {
        let o = CreateOptions {
            network: "host".into(),
            ..publish(&["80"], false)
        };
        assert!(matches!(
            ports(&o, &Image::default()),
            Err(Error::PortsOnHost)
        ));
        let o = CreateOptions {
            network: "host".into(),
            ..CreateOptions::default()
        };
        assert!(ports(&o, &Image::default()).unwrap().is_empty());
    }
}
