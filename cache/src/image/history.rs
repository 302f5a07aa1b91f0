//! `kiln history`: one row per history entry, newest first, as `docker
//! history` prints them. Entries with `empty_layer` (ENV, CMD, …) have size
//! 0; the others take the next layer's size in order. Only the newest row
//! can be named by an ID; the rest are `<missing>`, as for pulled images.

use oci_spec::image::ImageConfiguration;

use crate::digest::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image ID on the newest row, None (`<missing>`) below it.
    pub id: Option<Digest>,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
}

/// Rows for an image with `layer_sizes` (bottom first, unpacked bytes).
pub fn rows(
    config: &ImageConfiguration,
    image_id: &Digest,
    layer_sizes: &[u64],
) -> Vec<HistoryRow> {
    let mut sizes = layer_sizes.iter();
    let mut out: Vec<HistoryRow> = match config.history() {
        Some(history) if !history.is_empty() => history
            .iter()
            .map(|h| {
                let empty = h.empty_layer().unwrap_or(false);
                HistoryRow {
                    id: None,
                    created: h.created().clone(),
                    created_by: h.created_by().clone().unwrap_or_default(),
                    size: if empty {
                        0
                    } else {
                        sizes.next().copied().unwrap_or(0)
                    },
                    comment: h.comment().clone().unwrap_or_default(),
                    empty_layer: empty,
                }
            })
            .collect(),
        // No history at all (some hand-made images): one row per layer.
        _ => layer_sizes
            .iter()
            .map(|&size| HistoryRow {
                id: None,
                created: config.created().clone(),
                created_by: String::new(),
                size,
                comment: String::new(),
                empty_layer: false,
            })
            .collect(),
    };
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = Some(*image_id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_layers_take_no_size_and_newest_comes_first() {
        let config: ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
            "history":[{"created_by":"ADD rootfs /"},{"created_by":"ENV A=1","empty_layer":true},
                       {"created_by":"RUN make","comment":"buildkit"}]}"#,
        )
        .unwrap();
        let id = Digest::of_bytes(b"cfg");
        let rows = rows(&config, &id, &[100, 7]);
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.id, r.created_by.as_str(), r.size, r.empty_layer))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(id), "RUN make", 7, false),
                (None, "ENV A=1", 0, true),
                (None, "ADD rootfs /", 100, false),
            ]
        );
        assert_eq!(rows[0].comment, "buildkit");
    }
}
