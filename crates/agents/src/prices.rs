//! What tokens cost, per model: a table kept as data (`data/prices.json`,
//! overridable with a file of the same shape), so that a running cost can
//! be counted for CLIs that report tokens but never a cost (Codex, Gemini),
//! and for Claude Code between the results that carry its own figure.

use std::collections::BTreeMap;

use serde::Deserialize;

/// USD per million tokens of each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input read from the prompt cache (cheaper); input when absent.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Input written to the prompt cache (dearer); input when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// Tokens of each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input not read from the cache.
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }

    pub fn add(&mut self, other: Tokens) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Prices {
    models: BTreeMap<String, Price>,
}

const BUILT_IN: &str = include_str!("../data/prices.json");

impl Prices {
    /// The table shipped with sc.
    pub fn built_in() -> Prices {
        serde_json::from_str(BUILT_IN).expect("the built-in price table parses")
    }

    /// Lay a file's prices over these (same shape: `{"models": {..}}`).
    pub fn overlay(&mut self, json: &str) -> Result<(), String> {
        let more: Prices = serde_json::from_str(json).map_err(|e| {
            format!("{e} (want {{\"models\": {{\"MODEL\": {{\"input\": USD_PER_MTOK, \"output\": USD_PER_MTOK}}}}}})")
        })?;
        for (model, price) in more.models {
            if !(price.input.is_finite() && price.output.is_finite())
                || price.input < 0.0
                || price.output < 0.0
            {
                return Err(format!("model {model}: prices must be numbers from 0"));
            }
            self.models.insert(model, price);
        }
        Ok(())
    }

    /// The price of `model`: its own, or that of the longest name in the
    /// table it starts with (`claude-sonnet-4-5-20250929` →
    /// `claude-sonnet-4-5`).
    pub fn get(&self, model: &str) -> Option<&Price> {
        // Copilot writes versions with dots (`claude-sonnet-4.5`).
        let dashed = model.replace('.', "-");
        let model = dashed.as_str();
        self.models.get(model).or_else(|| {
            self.models
                .iter()
                .filter(|(name, _)| model.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, price)| price)
        })
    }

    /// What `tokens` of `model` cost, in USD.
    pub fn cost(&self, model: &str, tokens: Tokens) -> Option<f64> {
        let p = self.get(model)?;
        let per = |n: u64, usd: f64| n as f64 * usd / 1e6;
        Some(
            per(tokens.input, p.input)
                + per(tokens.output, p.output)
                + per(tokens.cache_read, p.cache_read.unwrap_or(p.input))
                + per(tokens.cache_write, p.cache_write.unwrap_or(p.input)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_names_find_their_family_and_files_override() {
        let mut prices = Prices::built_in();
        let tokens = Tokens {
            input: 1_000_000,
            output: 100_000,
            cache_read: 2_000_000,
            cache_write: 0,
        };
        let cost = prices.cost("claude-sonnet-4-5-20250929", tokens).unwrap();
        assert!((cost - (3.0 + 1.5 + 0.6)).abs() < 1e-9, "{cost}");
        assert!(prices.cost("no-such-model", tokens).is_none());
        prices
            .overlay(r#"{"models": {"no-such-model": {"input": 1, "output": 2}}}"#)
            .unwrap();
        let cost = prices.cost("no-such-model", tokens).unwrap();
        assert!((cost - (1.0 + 0.2 + 2.0)).abs() < 1e-9, "{cost}");
        assert!(
            prices
                .overlay(r#"{"models": {"x": {"input": -1, "output": 2}}}"#)
                .is_err()
        );
        assert!(prices.overlay("nonsense").is_err());
    }
}
