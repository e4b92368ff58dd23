//! A provider's secret as a pool of keys: `sk-a,sk-b;weight=2`. Each request picks a key by
//! weight; when it fails over, the others follow in weight order.

/// The largest weight accepted; more would only make the others unreachable in practice.
pub const MAX_WEIGHT: u32 = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolKey {
    pub key: String,
    /// 0 means a standby key: never picked first, tried only when others fail.
    pub weight: u32,
}

impl PoolKey {
    /// The last four characters, which is all the dashboard ever shows of a key.
    pub fn last4(&self) -> String {
        let chars: Vec<char> = self.key.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPool {
    pub keys: Vec<PoolKey>,
}

/// Parses a secret. Entries are separated by commas, each a key optionally followed by
/// `;weight=N` (0..=1000, default 1). Blank entries are skipped. An entry with a bad parameter is
/// left out, and the reason (which names its position, never the key) is returned to be logged.
pub fn parse(secret: &str) -> (KeyPool, Vec<String>) {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in secret.split(',').enumerate() {
        let mut parts = entry.split(';').map(str::trim);
        let key = parts.next().unwrap_or("");
        if key.is_empty() {
            if !entry.trim().is_empty() {
                problems.push(format!("entry {i}: no key before ';'"));
            }
            continue;
        }
        let mut weight = 1;
        let mut bad = None;
        for param in parts {
            match param.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("weight", v)) => match v.parse::<u32>() {
                    Ok(w) if w <= MAX_WEIGHT => weight = w,
                    _ => bad = Some(format!("entry {i}: weight must be a whole number from 0 to {MAX_WEIGHT}")),
                },
                _ => bad = Some(format!("entry {i}: unknown parameter (only weight=N is known)")),
            }
        }
        match bad {
            Some(reason) => problems.push(reason),
            None => keys.push(PoolKey { key: key.to_string(), weight }),
        }
    }
    (KeyPool { keys }, problems)
}

impl KeyPool {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The order to try the keys in: the first drawn by weight among the `usable` ones (`roll` is a
    /// uniform number in [0, 1)), then the rest of the usable ones by weight, heaviest first (ties
    /// keep their position), then the resting ones the same way, so that a request still gets
    /// tried when every key rests.
    pub fn order(&self, roll: f64, usable: impl Fn(usize) -> bool) -> Vec<usize> {
        let by_weight = |mut v: Vec<usize>| {
            v.sort_by(|a, b| self.keys[*b].weight.cmp(&self.keys[*a].weight).then(a.cmp(b)));
            v
        };
        let (ready, resting): (Vec<usize>, Vec<usize>) = (0..self.keys.len()).partition(|i| usable(*i));
        let mut ready = by_weight(ready);
        if let Some(first) = weighted_pick(&ready.iter().map(|i| self.keys[*i].weight).collect::<Vec<_>>(), roll) {
            let chosen = ready.remove(first);
            ready.insert(0, chosen);
        }
        ready.extend(by_weight(resting));
        ready
    }
}

/// The position in `weights` that `roll` (in [0, 1)) lands on, each getting a share proportional
/// to its weight. All-zero weights pick the first; empty gives `None`.
pub fn weighted_pick(weights: &[u32], roll: f64) -> Option<usize> {
    if weights.is_empty() {
        return None;
    }
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return Some(0);
    }
    let target = (roll.clamp(0.0, 1.0) * total as f64) as u64;
    let mut sum = 0u64;
    for (i, w) in weights.iter().enumerate() {
        sum += u64::from(*w);
        if target < sum {
            return Some(i);
        }
    }
    weights.iter().rposition(|w| *w > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(s: &str) -> KeyPool {
        let (pool, problems) = parse(s);
        assert!(problems.is_empty(), "{problems:?}");
        pool
    }

    #[test]
    fn one_key_is_a_pool_of_one() {
        assert_eq!(pool("sk-only").keys, [PoolKey { key: "sk-only".into(), weight: 1 }]);
    }

    #[test]
    fn commas_and_weights() {
        let p = pool(" sk-a , sk-b;weight=2,sk-c; weight = 0 ,");
        let got: Vec<(&str, u32)> = p.keys.iter().map(|k| (k.key.as_str(), k.weight)).collect();
        assert_eq!(got, [("sk-a", 1), ("sk-b", 2), ("sk-c", 0)]);
    }

    #[test]
    fn bad_entries_are_left_out_and_named_by_position_only() {
        let (p, problems) = parse("sk-secret-a;weight=x,sk-b,sk-secret-c;colour=red,;weight=2,sk-d;weight=1001");
        assert_eq!(p.keys.len(), 1);
        assert_eq!(p.keys[0].key, "sk-b");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("entry 0:"));
        assert!(problems.iter().all(|m| !m.contains("secret")), "{problems:?}");
        assert!(parse("").0.is_empty());
    }

    #[test]
    fn last4_never_shows_more() {
        assert_eq!(PoolKey { key: "sk-abcdef1234".into(), weight: 1 }.last4(), "1234");
        assert_eq!(PoolKey { key: "ab".into(), weight: 1 }.last4(), "ab");
    }

    #[test]
    fn weighted_pick_shares_by_weight() {
        let weights = [1, 3, 0];
        let mut hits = [0; 3];
        for i in 0..4000 {
            hits[weighted_pick(&weights, i as f64 / 4000.0).unwrap()] += 1;
        }
        assert_eq!(hits, [1000, 3000, 0]);
        assert_eq!(weighted_pick(&[0, 0], 0.7), Some(0));
        assert_eq!(weighted_pick(&[], 0.5), None);
        assert_eq!(weighted_pick(&[2, 0], 0.9999999), Some(0));
    }

    #[test]
    fn failover_order_is_the_pick_then_weight_order() {
        let p = pool("a,b;weight=5,c;weight=2,d;weight=0");
        // total 8: [0, 1/8) picks b (sorted b,c,a,d), so the roll decides the first only.
        assert_eq!(p.order(0.0, |_| true), [1, 2, 0, 3]);
        assert_eq!(p.order(0.7, |_| true), [2, 1, 0, 3]);
        assert_eq!(p.order(0.99, |_| true), [0, 1, 2, 3]);
    }

    #[test]
    fn standby_keys_come_last_and_ties_keep_their_place() {
        let p = pool("a,b;weight=0,c;weight=0");
        for roll in [0.0, 0.5, 0.999] {
            assert_eq!(p.order(roll, |_| true), [0, 1, 2]);
        }
    }

    #[test]
    fn resting_keys_go_to_the_back() {
        let p = pool("a;weight=9,b,c");
        assert_eq!(p.order(0.0, |i| i != 0), [1, 2, 0]);
        assert_eq!(p.order(0.0, |_| false), [0, 1, 2]);
    }
}
