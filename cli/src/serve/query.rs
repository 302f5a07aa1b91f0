//! A request's query string, read as Docker reads it: booleans are `1`,
//! `true` or `True`; `filters` is JSON, either `{"key": {"value": true}}`
//! or the older `{"key": ["value"]}`.

use std::collections::BTreeMap;

use kiln_engine::filter::Filters;

use super::reply::ApiError;

#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(text: Option<&str>) -> Query {
        let pairs = text
            .map(|t| form_urlencoded::parse(t.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Query { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A value that is there and not empty.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Every value of a repeated key (`t=a&t=b`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| matches!(v, "1" | "true" | "True" | "TRUE"))
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }

    /// `filters` as (key, value) pairs, in Docker's key order.
    pub fn filters(&self) -> Result<Vec<(String, String)>, ApiError> {
        let Some(text) = self.get("filters").filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        parse_filters(text)
    }

    /// `filters` as the CLI's `--filter KEY=VALUE` texts, so both are read
    /// by one parser.
    pub fn filter_flags(&self) -> Result<Vec<String>, ApiError> {
        Ok(self
            .filters()?
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect())
    }

    /// A prune's filters, the keys `allowed` takes read as the CLI reads
    /// them; the last value of `own` (a key only this endpoint has, such as
    /// images' `dangling`) is returned apart.
    pub fn prune_filters(
        &self,
        allowed: &[&str],
        own: Option<&str>,
    ) -> Result<(Filters, Option<String>), ApiError> {
        let mut rest = Vec::new();
        let mut own_value = None;
        for (k, v) in self.filters()? {
            match own {
                Some(o) if k == o => own_value = Some(v),
                _ => rest.push(format!("{k}={v}")),
            }
        }
        let filters = crate::cmd::filter::parse(&rest, allowed)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok((filters, own_value))
    }

    /// A JSON object of strings (`buildargs`, `labels`).
    pub fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let Some(text) = self.get(key).filter(|t| !t.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let map: BTreeMap<String, Option<String>> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect())
    }
}

pub fn parse_filters(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Values {
        Set(BTreeMap<String, bool>),
        List(Vec<String>),
    }
    let map: BTreeMap<String, Values> = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let mut pairs = Vec::new();
    for (key, values) in map {
        match values {
            Values::Set(set) => pairs.extend(
                set.into_iter()
                    .filter(|(_, on)| *on)
                    .map(|(v, _)| (key.clone(), v)),
            ),
            Values::List(list) => pairs.extend(list.into_iter().map(|v| (key.clone(), v))),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filter_encodings_are_read() {
        let q = Query::parse(Some("filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D"));
        assert_eq!(
            q.filters().unwrap(),
            [("label".to_string(), "a=b".to_string())]
        );
        let old = parse_filters(r#"{"status":["running","exited"]}"#).unwrap();
        assert_eq!(old.len(), 2);
        assert!(parse_filters("{not json").is_err());
    }

    #[test]
    fn docker_booleans() {
        let q = Query::parse(Some("a=1&b=True&c=0&d=false"));
        assert!(q.flag("a") && q.flag("b"));
        assert!(!q.flag("c") && !q.flag("d") && !q.flag("missing"));
        assert!(q.number::<u64>("a").unwrap() == Some(1));
        assert!(q.number::<u64>("b").is_err());
    }
}
