//! `system df -v`: Docker's four sections (images, containers, local
//! volumes, build cache), each a table under Docker's default templates
//! and column names.

use std::io::{self, Write};
use std::process::ExitCode;

use kiln_cache::units::{human_size, human_size_with_precision};
use kiln_cache::RecordUsage;
use kiln_engine::container::ContainerSize;
use kiln_engine::{DfDetail, ImageUsage, VolumeUsage};

use crate::cmd::container::{ps_item, size_text};
use crate::cmd::image::repo_tag;
use crate::template::{Item, Template};

const IMAGES: &str = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.VirtualSize}}\\t{{.SharedSize}}\\t{{.UniqueSize}}\\t{{.Containers}}";
const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];

const CONTAINERS: &str = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.LocalVolumes}}\\t{{.Size}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Names}}";
const CONTAINER_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Size", "SIZE"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Names", "NAMES"),
];

const VOLUMES: &str = "table {{.Name}}\\t{{.Links}}\\t{{.Size}}";
const VOLUME_HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
];

const CACHE: &str = "table {{.ID}}\\t{{.CacheType}}\\t{{.Size}}\\t{{.CreatedSince}}\\t{{.LastUsedSince}}\\t{{.UsageCount}}\\t{{.Shared}}";
const CACHE_HEADERS: &[(&str, &str)] = &[
    ("ID", "CACHE ID"),
    ("CacheType", "CACHE TYPE"),
    ("Size", "SIZE"),
    ("CreatedSince", "CREATED"),
    ("LastUsedSince", "LAST USED"),
    ("UsageCount", "USAGE"),
    ("Shared", "SHARED"),
];

pub fn write(df: &DfDetail) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    let images: Vec<Item> = df.images.iter().map(image_item).collect();
    write!(out, "Images space usage:\n\n")?;
    section(&mut out, IMAGES, &images, IMAGE_HEADERS)?;
    // Docker's containers here show their writable layer alone.
    let containers: Vec<Item> = df
        .containers
        .iter()
        .map(|(c, s)| {
            let writable = ContainerSize {
                writable: s.writable,
                root: 0,
            };
            ps_item(c, false, Some(size_text(&writable)))
        })
        .collect();
    write!(out, "\nContainers space usage:\n\n")?;
    section(&mut out, CONTAINERS, &containers, CONTAINER_HEADERS)?;
    let volumes: Vec<Item> = df.volumes.iter().map(volume_item).collect();
    write!(out, "\nLocal Volumes space usage:\n\n")?;
    section(&mut out, VOLUMES, &volumes, VOLUME_HEADERS)?;
    let total: u64 = df.build_cache.iter().map(|r| r.size).sum();
    write!(out, "\nBuild cache usage: {}\n\n", human_size(total))?;
    let cache: Vec<Item> = df.build_cache.iter().map(cache_item).collect();
    section(&mut out, CACHE, &cache, CACHE_HEADERS)?;
    Ok(ExitCode::SUCCESS)
}

/// One table: the header and a row per item, aligned.
fn section(
    out: &mut impl Write,
    format: &str,
    items: &[Item],
    headers: &[(&str, &str)],
) -> anyhow::Result<()> {
    let template = Template::list(format)?;
    let values: Vec<_> = items.iter().map(Item::value).collect();
    out.write_all(template.render(&values, headers)?.as_bytes())?;
    Ok(())
}

fn image_item(i: &ImageUsage) -> Item {
    let (repo, tag) = repo_tag(i.row.name.as_ref());
    let size = i.row.size;
    Item::new()
        .with("Repository", repo)
        .with("Tag", tag)
        .with("ID", i.row.id.short())
        .with(
            "CreatedSince",
            i.row
                .created
                .map_or_else(|| "N/A".into(), crate::cmd::cache::ago),
        )
        .with("VirtualSize", human_size_with_precision(size, 3))
        .with("SharedSize", human_size(i.shared))
        .with("UniqueSize", human_size(size.saturating_sub(i.shared)))
        .with("Containers", i.containers.to_string())
}

fn volume_item(v: &VolumeUsage) -> Item {
    Item::new()
        .with("Name", v.name.as_str())
        .with("Links", v.links.to_string())
        .with("Size", human_size(v.size))
}

/// Docker marks a record in use with `*` after its ID.
fn cache_item(r: &RecordUsage) -> Item {
    let rec = &r.record;
    let mut id: String = rec.id.chars().take(12).collect();
    if r.in_use {
        id.push('*');
    }
    Item::new()
        .with("ID", id)
        .with("CacheType", rec.kind.as_str())
        .with("Size", human_size_with_precision(r.size, 3))
        .with("CreatedSince", crate::cmd::cache::ago(rec.created))
        .with("LastUsedSince", crate::cmd::cache::ago(rec.last_used))
        .with("UsageCount", rec.usage_count.to_string())
        .with("Shared", r.shared.to_string())
}
