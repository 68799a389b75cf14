//! Business flows ("RuleId"s): which liveness mode, how many attempts, where to send the person back.
//!
//! Loaded from a TOML or JSON file (by extension; `.json` is JSON, anything else TOML):
//!
//! ```toml
//! [[rules]]
//! id = "1"
//! mode = "light"          # light | silent | action | digit | flash | nearfar
//! retries = 99            # attempts per BizToken (PROTOCOL.md §3 code 16)
//! redirect_url = "https://biz.example/done"   # optional default RedirectUrl
//! enabled = true
//! locale = "zh-CN"        # the page's language for this flow
//! ```
//!
//! Without a file the built-in default is RuleId "1" in light mode with 99 attempts.

use std::collections::BTreeMap;
use std::path::Path;

use faceid_core::protocol::LivenessMode;
use faceid_core::redirect::validate_redirect_url;
use faceid_core::Locale;
use serde::Deserialize;

/// PROTOCOL.md §3 code 16: the default retry budget of a BizToken.
pub const DEFAULT_RETRIES: u32 = 99;
/// RuleIds are short identifiers; anything longer is a mistake in the rules file.
const MAX_RULE_ID_LEN: usize = 64;

/// One business flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: String,
    pub mode: LivenessMode,
    pub retries: u32,
    pub redirect_url: Option<String>,
    pub enabled: bool,
    pub locale: Locale,
}

impl Rule {
    /// Whether this server can run the rule's liveness mode (only light today).
    pub fn mode_supported(&self) -> bool {
        self.mode == LivenessMode::Light
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("rules file {path} is not valid TOML: {message}")]
    Toml { path: String, message: String },
    #[error("rules file {path} is not valid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("rule {id:?}: {problem}")]
    Invalid { id: String, problem: String },
    #[error("the rules file defines no rule")]
    Empty,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rules: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    id: String,
    #[serde(default = "default_mode")]
    mode: LivenessMode,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default)]
    redirect_url: Option<String>,
    #[serde(default = "default_enabled")]
    enabled: bool,
    #[serde(default)]
    locale: Option<Locale>,
}

fn default_mode() -> LivenessMode {
    LivenessMode::Light
}
fn default_retries() -> u32 {
    DEFAULT_RETRIES
}
fn default_enabled() -> bool {
    true
}

/// All configured rules, by RuleId.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    by_id: BTreeMap<String, Rule>,
}

impl Default for Rules {
    /// RuleId "1": light mode, 99 attempts, no default RedirectUrl, zh-CN.
    fn default() -> Self {
        let rule = Rule {
            id: "1".into(),
            mode: LivenessMode::Light,
            retries: DEFAULT_RETRIES,
            redirect_url: None,
            enabled: true,
            locale: Locale::ZhCn,
        };
        Rules {
            by_id: BTreeMap::from([(rule.id.clone(), rule)]),
        }
    }
}

impl Rules {
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.by_id.values()
    }

    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: shown.clone(),
            source,
        })?;
        let is_json = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            Rules::from_json(&text).map_err(|e| match e {
                RulesError::Json { source, .. } => RulesError::Json {
                    path: shown,
                    source,
                },
                other => other,
            })
        } else {
            Rules::from_toml(&text).map_err(|e| match e {
                RulesError::Toml { message, .. } => RulesError::Toml {
                    path: shown,
                    message,
                },
                other => other,
            })
        }
    }

    pub fn from_toml(text: &str) -> Result<Rules, RulesError> {
        let file: RulesFile = toml::from_str(text).map_err(|e| RulesError::Toml {
            path: String::new(),
            message: e.to_string(),
        })?;
        Rules::from_entries(file.rules)
    }

    pub fn from_json(text: &str) -> Result<Rules, RulesError> {
        let file: RulesFile = serde_json::from_str(text).map_err(|source| RulesError::Json {
            path: String::new(),
            source,
        })?;
        Rules::from_entries(file.rules)
    }

    fn from_entries(entries: Vec<RuleEntry>) -> Result<Rules, RulesError> {
        if entries.is_empty() {
            return Err(RulesError::Empty);
        }
        let mut by_id = BTreeMap::new();
        for e in entries {
            let invalid = |problem: &str| RulesError::Invalid {
                id: e.id.clone(),
                problem: problem.to_string(),
            };
            if e.id.is_empty()
                || e.id.len() > MAX_RULE_ID_LEN
                || !e
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid("id must be 1-64 letters, digits, '-' or '_'"));
            }
            if e.retries == 0 {
                return Err(invalid("retries must be at least 1"));
            }
            if let Some(url) = &e.redirect_url {
                validate_redirect_url(url)
                    .map_err(|err| invalid(&format!("redirect_url: {err}")))?;
            }
            if by_id.contains_key(&e.id) {
                return Err(invalid("defined twice"));
            }
            let rule = Rule {
                id: e.id.clone(),
                mode: e.mode,
                retries: e.retries,
                redirect_url: e.redirect_url,
                enabled: e.enabled,
                locale: e.locale.unwrap_or_default(),
            };
            by_id.insert(e.id, rule);
        }
        Ok(Rules { by_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_light_rule_one() {
        let r = Rules::default();
        let one = r.get("1").unwrap();
        assert_eq!(one.mode, LivenessMode::Light);
        assert_eq!(one.retries, 99);
        assert!(one.mode_supported());
    }

    #[test]
    fn toml_and_json_parse_the_same() {
        let t = Rules::from_toml(
            "[[rules]]\nid = \"7\"\nmode = \"silent\"\nretries = 3\nredirect_url = \"https://b.example/x\"\nlocale = \"en\"\n",
        )
        .unwrap();
        let j = Rules::from_json(
            r#"{"rules":[{"id":"7","mode":"silent","retries":3,"redirect_url":"https://b.example/x","locale":"en"}]}"#,
        )
        .unwrap();
        assert_eq!(t, j);
        let seven = t.get("7").unwrap();
        assert!(!seven.mode_supported());
        assert_eq!(seven.locale, Locale::En);
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(matches!(
            Rules::from_toml("rules = []"),
            Err(RulesError::Empty)
        ));
        assert!(Rules::from_toml("[[rules]]\nid = \"1\"\nretries = 0\n").is_err());
        assert!(
            Rules::from_toml("[[rules]]\nid = \"1\"\nredirect_url = \"javascript:x\"\n").is_err()
        );
        assert!(Rules::from_toml("[[rules]]\nid = \"1\"\n[[rules]]\nid = \"1\"\n").is_err());
        assert!(Rules::from_toml("[[rules]]\nid = \"a b\"\n").is_err());
        assert!(Rules::from_toml("[[rules]]\nid = \"1\"\nmystery = 1\n").is_err());
    }
}
