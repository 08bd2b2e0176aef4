//! What an agent spent, as its results report it.

/// Cost and tokens an agent reported in its result.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub cost_usd: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The agent's own verdict (a result with is_error is a failure).
    pub ok: Option<bool>,
}
