//! `/volumes/…`: create, list, inspect, remove, prune.

use std::collections::BTreeMap;

use hyper::StatusCode;
use kiln_engine::prune::VolumePruneOptions;
use kiln_engine::VolumeCreateOptions;
use serde_json::{json, Value};

use super::reply::{self, ApiError};
use super::route::ApiRequest;
use super::Ctx;

pub fn list(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let filters = req.query.filters()?;
    let mut volumes: Vec<Value> = Vec::new();
    for v in ctx.engine.list_volumes()? {
        let keep = filters.iter().all(|(k, want)| match k.as_str() {
            "name" => v.name.contains(want.as_str()),
            "label" => kiln_engine::filter::LabelFilter::parse(want, false).matches(&v.labels),
            "dangling" => true,
            _ => false,
        });
        if keep {
            volumes.push(ctx.engine.inspect_volume(&v.name)?);
        }
    }
    reply::ok_json(&json!({"Volumes": volumes, "Warnings": []}))
}

pub fn create(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    #[derive(serde::Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct Body {
        name: String,
        driver: String,
        driver_opts: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
    }
    let b: Body = req.json()?;
    if !b.driver.is_empty() && b.driver != "local" {
        return Err(ApiError::bad_request(format!(
            "volume driver {:?} is not supported: kiln has only the local driver",
            b.driver
        )));
    }
    if b.driver_opts.is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad_request(
            "DriverOpts are not supported by kiln's local volumes",
        ));
    }
    let opts = VolumeCreateOptions {
        name: Some(b.name).filter(|n| !n.is_empty()),
        labels: b.labels.unwrap_or_default(),
    };
    let v = ctx.engine.create_volume(&opts)?;
    reply::ok_json_status(StatusCode::CREATED, &ctx.engine.inspect_volume(&v.name)?)
}

pub fn inspect(ctx: &Ctx, name: &str) -> reply::Result {
    reply::ok_json(&ctx.engine.inspect_volume(name)?)
}

pub fn remove(ctx: &Ctx, name: &str, req: &ApiRequest) -> reply::Result {
    match ctx.engine.remove_volume(name) {
        Ok(()) => reply::no_content(),
        // `force` only makes a missing volume no error, as in Docker.
        Err(e) => {
            let err = ApiError::from(e);
            if err.status == StatusCode::NOT_FOUND && req.query.flag("force") {
                return reply::no_content();
            }
            if err.message.contains("in use") {
                return Err(ApiError::conflict(err.message));
            }
            Err(err)
        }
    }
}

pub fn prune(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let (filters, all) = req.query.prune_filters(&["label"], Some("all"))?;
    let all = matches!(all.as_deref(), Some("true" | "1"));
    let pruned = ctx
        .engine
        .prune_volumes(&VolumePruneOptions { all, filters })?;
    reply::ok_json(&json!({"VolumesDeleted": pruned.deleted, "SpaceReclaimed": pruned.reclaimed}))
}
