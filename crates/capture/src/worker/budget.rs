//! What an agent worker spends, over all its attempts, and its cap
//! (`--max-cost-usd`, `--max-tokens`, a task's `max_cost_usd`).

use crate::agent::{AgentReader, Spend};

use super::options::Budget;

/// One worker's spending.
#[derive(Debug, Default)]
pub struct Spending {
    cap: Option<Budget>,
    /// Spent by earlier attempts.
    before: Spend,
    /// Spent by this attempt so far.
    now: Spend,
    /// The worker's model has no known price: said once.
    unpriced_said: bool,
}

/// What counting found.
#[derive(Debug, Default, PartialEq)]
pub struct Counted {
    /// To be said as an `error` event (once).
    pub warning: Option<String>,
    /// The cap is reached: the worker is to be ended (`ended_by: "budget"`).
    pub over: bool,
}

impl Spending {
    pub fn new(cap: Option<Budget>) -> Spending {
        Spending {
            cap,
            ..Spending::default()
        }
    }

    /// Every attempt's spending so far.
    pub fn total(&self) -> Spend {
        self.before.plus(self.now)
    }

    /// The cap as it stands: (USD, tokens).
    pub fn cap(&self) -> (Option<f64>, Option<u64>) {
        self.cap
            .as_ref()
            .map_or((None, None), |c| (c.max_usd, c.max_tokens))
    }

    /// A person (or policy) let it go on past its cap (`--ask`): the cap
    /// moves on by as much again as it was, from what is spent now.
    pub fn extend_cap(&mut self) {
        let total = self.total();
        if let Some(cap) = &mut self.cap {
            if let Some(max) = cap.max_usd {
                cap.max_usd = Some(total.usd.unwrap_or(max).max(max) + max);
            }
            if let Some(max) = cap.max_tokens {
                cap.max_tokens = Some(total.tokens.max(max) + max);
            }
        }
    }

    /// The attempt ended: what it spent is kept, the next counts anew.
    pub fn next_attempt(&mut self) {
        self.before = self.total();
        self.now = Spend::default();
    }

    /// After an agent's line: count what the attempt has spent by its
    /// reader's account, and weigh it against the cap.
    pub fn count(&mut self, watch: &dyn AgentReader) -> Counted {
        let Some(cap) = &self.cap else {
            return Counted::default();
        };
        let spent = watch.spend(cap.model.as_deref());
        let model = watch.model().or(cap.model.as_deref()).map(str::to_owned);
        self.counted(spent, model)
    }

    fn counted(&mut self, spent: Spend, model: Option<String>) -> Counted {
        let Some(cap) = &self.cap else {
            return Counted::default();
        };
        let (max_usd, max_tokens) = (cap.max_usd, cap.max_tokens);
        self.now = spent;
        let total = self.total();
        let mut counted = Counted::default();
        if max_usd.is_some() && total.usd.is_none() && total.tokens > 0 && !self.unpriced_said {
            self.unpriced_said = true;
            let model = model.unwrap_or_else(|| "(the agent did not name it)".into());
            counted.warning = Some(format!(
                "no price is known for model {model}: its cost cannot be counted, so its USD cap \
                 cannot hold it; give the model's price with --prices FILE, or cap its tokens with \
                 --max-tokens"
            ));
        }
        let over_usd = max_usd.zip(total.usd).is_some_and(|(max, usd)| usd >= max);
        let over_tokens = max_tokens.is_some_and(|max| total.tokens >= max);
        counted.over = over_usd || over_tokens;
        counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(max_usd: Option<f64>, max_tokens: Option<u64>) -> Spending {
        Spending::new(Some(Budget {
            max_usd,
            max_tokens,
            model: None,
        }))
    }

    fn spend(usd: Option<f64>, tokens: u64) -> Spend {
        Spend { usd, tokens }
    }

    #[test]
    fn attempts_add_up_against_one_cap() {
        let mut spending = capped(Some(1.0), None);
        assert!(!spending.counted(spend(Some(0.4), 10), None).over);
        assert!(!spending.counted(spend(Some(0.6), 20), None).over);
        spending.next_attempt();
        assert_eq!(spending.total(), spend(Some(0.6), 20));
        // The second attempt's own 0.3 is under the cap; with the first's
        // 0.6 it is not yet, at 0.4 it is.
        assert!(!spending.counted(spend(Some(0.3), 5), None).over);
        assert!(spending.counted(spend(Some(0.4), 6), None).over);
        assert_eq!(spending.total(), spend(Some(1.0), 26));
    }

    #[test]
    fn tokens_cap_what_has_no_price_and_the_missing_price_is_said_once() {
        let mut spending = capped(Some(1.0), Some(100));
        let first = spending.counted(spend(None, 50), Some("m-x".into()));
        assert!(!first.over);
        assert!(
            first
                .warning
                .unwrap()
                .contains("no price is known for model m-x")
        );
        let second = spending.counted(spend(None, 100), Some("m-x".into()));
        assert_eq!(second.warning, None);
        assert!(second.over);
    }

    #[test]
    fn a_cap_let_go_on_past_moves_on_by_as_much_again() {
        let mut spending = capped(Some(1.0), Some(100));
        assert!(spending.counted(spend(Some(1.2), 120), None).over);
        spending.extend_cap();
        assert_eq!(spending.cap(), (Some(2.2), Some(220)));
        assert!(!spending.counted(spend(Some(2.0), 200), None).over);
        assert!(spending.counted(spend(Some(2.3), 200), None).over);
    }

    #[test]
    fn no_cap_counts_nothing() {
        let mut spending = Spending::new(None);
        assert_eq!(
            spending.counted(spend(Some(9.0), 9), None),
            Counted::default()
        );
        assert_eq!(spending.total(), Spend::default());
    }
}
