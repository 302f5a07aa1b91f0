//! `/networks/…`: create, list, inspect, remove, prune, connect and
//! disconnect containers.

use std::collections::BTreeMap;

use hyper::StatusCode;
use kiln_runtime::network::user::Options;
use serde_json::{json, Value};

use super::reply::{self, ApiError};
use super::route::ApiRequest;
use super::Ctx;

/// The modes Docker lists as networks beside the user ones.
const BUILTIN: [&str; 3] = ["bridge", "host", "none"];

pub fn list(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let filters = req.query.filters()?;
    let mut names: Vec<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
    names.extend(ctx.engine.list_networks()?.into_iter().map(|n| n.name));
    let mut all = Vec::new();
    for name in names {
        let value = ctx.engine.inspect_network(&name)?;
        if filters.iter().all(|(k, want)| selected(&value, k, want)) {
            all.push(value);
        }
    }
    reply::ok_json(&all)
}

fn selected(net: &Value, key: &str, want: &str) -> bool {
    let field = |f: &str| net.get(f).and_then(Value::as_str).unwrap_or("");
    match key {
        "name" => field("Name").contains(want),
        "id" => field("Id").starts_with(want),
        "driver" => field("Driver") == want,
        "type" => (want == "builtin") == BUILTIN.contains(&field("Name")),
        "label" => false,
        _ => false,
    }
}

pub fn create(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    #[derive(serde::Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct Body {
        name: String,
        driver: String,
        options: Option<BTreeMap<String, String>>,
        internal: bool,
        #[serde(rename = "EnableIPv6")]
        enable_ipv6: bool,
    }
    let b: Body = req.json()?;
    if b.name.is_empty() {
        return Err(ApiError::bad_request("network name is required"));
    }
    if !b.driver.is_empty() && b.driver != "bridge" {
        return Err(ApiError::bad_request(format!(
            "network driver {:?} is not supported: kiln's networks are bridges",
            b.driver
        )));
    }
    if b.internal || b.enable_ipv6 {
        return Err(ApiError::bad_request(
            "internal and IPv6 networks are not supported",
        ));
    }
    let pairs: Vec<String> = b
        .options
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let opts = Options::parse(&pairs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let net = ctx.engine.create_network(&b.name, &opts)?;
    reply::ok_json_status(StatusCode::CREATED, &json!({"Id": net.id, "Warning": ""}))
}

pub fn inspect(ctx: &Ctx, name: &str) -> reply::Result {
    reply::ok_json(&ctx.engine.inspect_network(name)?)
}

pub fn remove(ctx: &Ctx, name: &str) -> reply::Result {
    if BUILTIN.contains(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be removed"),
        ));
    }
    ctx.engine.remove_network(name)?;
    reply::no_content()
}

pub fn prune(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let (filters, _) = req.query.prune_filters(&["until"], None)?;
    let deleted = ctx.engine.prune_networks(&filters)?;
    reply::ok_json(&json!({"NetworksDeleted": deleted}))
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointConfig>,
    force: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct EndpointConfig {
    aliases: Option<Vec<String>>,
}

pub fn connect(ctx: &Ctx, name: &str, req: &mut ApiRequest) -> reply::Result {
    let b: ConnectBody = req.json()?;
    let opts = kiln_engine::ConnectOptions {
        aliases: b
            .endpoint_config
            .and_then(|e| e.aliases)
            .unwrap_or_default(),
    };
    ctx.engine.connect_network(name, &b.container, &opts)?;
    reply::status(StatusCode::OK)
}

pub fn disconnect(ctx: &Ctx, name: &str, req: &mut ApiRequest) -> reply::Result {
    let b: ConnectBody = req.json()?;
    ctx.engine.disconnect_network(name, &b.container, b.force)?;
    reply::status(StatusCode::OK)
}
