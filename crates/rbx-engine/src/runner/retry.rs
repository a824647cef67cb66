//! How a step retries: how many more attempts, which failures earn one
//! (`on exit 75, 111`), and the delay before each — doubling or fixed,
//! capped by `max`, spread by `jitter`.
//!
//! Jitter draws each delay between half of it and all of it, from a
//! number mixed from the node, the attempt and the run's clock: a real
//! run's delays differ from run to run as its clock does, and a scenario
//! under `rbx test`, whose clock is simulated, gets the same delays every
//! time. Every delay is recorded with its reason, so nothing about a retry
//! has to be recomputed to be shown.

use rbx_syntax::ast::{BackoffKind, Block, StmtKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) retries: u32,
    delay: u64,
    exponential: bool,
    max: Option<u64>,
    jitter: bool,
    on_exit: Vec<i64>,
}

impl Policy {
    /// The step's `retry` line; no retries without one.
    pub(crate) fn of(block: &Block) -> Policy {
        let retry = block.body.iter().find_map(|s| match &s.kind {
            StmtKind::Retry(retry) => Some(retry),
            _ => None,
        });
        let Some(retry) = retry else {
            return Policy {
                retries: 0,
                delay: 0,
                exponential: false,
                max: None,
                jitter: false,
                on_exit: Vec::new(),
            };
        };
        let backoff = retry.backoff.as_ref();
        Policy {
            retries: u32::try_from(retry.count.value).unwrap_or(0),
            delay: backoff.map_or(0, |b| b.delay.millis),
            exponential: backoff.is_none_or(|b| b.kind != Some(BackoffKind::Fixed)),
            max: backoff.and_then(|b| b.max.as_ref()).map(|m| m.millis),
            jitter: backoff.is_some_and(|b| b.jitter),
            on_exit: retry.on_exit.iter().map(|code| code.value).collect(),
        }
    }

    /// Why a failed attempt that ended with `exit` earns another (`Ok`),
    /// or why it does not (`Err`): with `on exit`, only those statuses do.
    pub(crate) fn earns(&self, exit: Option<i32>) -> Result<String, String> {
        if self.on_exit.is_empty() {
            return Ok("any failure is retried".to_string());
        }
        let listed = self.listed();
        match exit {
            Some(code) if self.on_exit.contains(&i64::from(code)) => {
                Ok(format!("exit {code} is retried (on exit {listed})"))
            }
            Some(code) => Err(format!(
                "exit {code} is not retried (only on exit {listed})"
            )),
            None => Err(format!(
                "an attempt with no exit status is not retried (only on exit {listed})"
            )),
        }
    }

    fn listed(&self) -> String {
        let codes: Vec<String> = self.on_exit.iter().map(ToString::to_string).collect();
        codes.join(", ")
    }

    /// The delay, in milliseconds, before retry number `round` (from 0),
    /// drawn with `seed` when the policy has jitter.
    pub(crate) fn delay(&self, round: u32, seed: u64) -> u64 {
        let mut delay = self.delay;
        if self.exponential {
            let factor = 2u64.checked_pow(round).unwrap_or(u64::MAX);
            delay = delay.saturating_mul(factor);
        }
        if let Some(max) = self.max {
            delay = delay.min(max);
        }
        if self.jitter && delay > 0 {
            let half = delay / 2;
            let spread = delay - half;
            delay = half + seed % (spread + 1);
        }
        delay
    }
}

/// A number mixed from the node, the attempt and the time: FNV-1a over
/// the text, then SplitMix64's finaliser so that close inputs land far
/// apart.
pub(crate) fn seed(node: &str, attempt: u32, now_ms: i64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = node
        .bytes()
        .chain(attempt.to_le_bytes())
        .chain(now_ms.to_le_bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::{Policy, seed};
    use proptest::prelude::*;

    fn policy(line: &str) -> Policy {
        let source = format!(
            "stage s \"S\" {{\n  step a \"A\" {{\n    run \"a\"\n    {line}\n  }}\n  end done\n}}\n"
        );
        let parsed = rbx_syntax::parse(&source);
        assert!(
            parsed.diagnostics.is_empty(),
            "{line}: {:?}",
            parsed.diagnostics
        );
        let file = parsed.file.expect("it parses");
        let rbx_syntax::ast::ItemKind::Stage(stage) = &file.items[0].kind else {
            panic!("a stage");
        };
        let rbx_syntax::ast::StageItemKind::Block(block) = &stage.items[0].kind else {
            panic!("a step");
        };
        Policy::of(block)
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = policy("retry 5 backoff 2s exponential max 10s");
        let delays: Vec<u64> = (0..5).map(|round| p.delay(round, 0)).collect();
        assert_eq!(delays, [2_000, 4_000, 8_000, 10_000, 10_000]);
        let fixed = policy("retry 3 backoff 30s fixed max 20s");
        assert_eq!(fixed.delay(2, 0), 20_000);
        let plain = policy("retry 2");
        assert_eq!((plain.retries, plain.delay(1, 7)), (2, 0));
    }

    #[test]
    fn only_the_listed_exit_statuses_earn_a_retry() {
        let p = policy("retry 5 backoff 2s on exit 75, 111");
        assert!(p.earns(Some(75)).is_ok());
        assert!(p.earns(Some(111)).is_ok());
        let other = p.earns(Some(1)).unwrap_err();
        assert!(other.contains("exit 1 is not retried"), "{other}");
        assert!(p.earns(None).is_err(), "a timeout has no exit status");
        assert!(policy("retry 1").earns(Some(1)).is_ok());
    }

    #[test]
    fn the_same_seed_draws_the_same_delay() {
        let p = policy("retry 5 backoff 2s max 1m jitter");
        let s = seed("deploy.push", 2, 1_796_634_000_000);
        assert_eq!(p.delay(1, s), p.delay(1, s));
        assert_ne!(seed("deploy.push", 2, 0), seed("deploy.push", 3, 0));
    }

    proptest! {
        #[test]
        fn jitter_stays_between_half_and_all_of_the_delay(
            base in 1u64..100_000,
            cap in 1u64..1_000_000,
            round in 0u32..70,
            node in "[a-z.]{1,12}",
            attempt in 1u32..20,
            now in any::<i64>(),
        ) {
            let line = format!(
                "retry 80 backoff {} max {} jitter",
                rbx_syntax::fmt::duration(base),
                rbx_syntax::fmt::duration(cap)
            );
            let p = policy(&line);
            let without = policy(&line.replace(" jitter", ""));
            let full = without.delay(round, 0);
            let drawn = p.delay(round, seed(&node, attempt, now));
            prop_assert!(full <= cap);
            prop_assert!(drawn <= full && drawn >= full / 2, "{} of {}", drawn, full);
        }
    }
}
